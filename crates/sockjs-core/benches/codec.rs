//! Criterion micro-benchmarks of the hot protocol paths: frame encoding
//! (`encode_messages`) and `xhr_send` payload decoding (`decode_messages`).
//! They print figures; they assert nothing about time.
//!
//! Run with: `cargo bench -p sockjs-core --bench codec`

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use sockjs_core::{decode_messages, encode_messages, DecodeLimits};
use std::hint::black_box;

/// 64 bytes of plain ASCII, nothing to escape.
fn ascii_64() -> String {
    let s: String = (0..64u8).map(|i| char::from(b'a' + i % 26)).collect();
    assert_eq!(s.len(), 64);
    s
}

/// About 1 KiB mixing plain ASCII, characters JSON escapes (`"`, `\`,
/// control characters), characters SockJS escapes (U+2028, U+200C, U+FFF0,
/// U+D800-range cannot occur in a `str`) and non-ASCII ones it keeps.
fn mixed_1k() -> String {
    let unit = "plain text, \"quoted\" \\ back\tslash\n é ü 😀 \u{2028}\u{200c}\u{fff0}\u{1} done. ";
    let mut s = String::new();
    while s.len() < 1024 {
        s.push_str(unit);
    }
    s
}

/// An `xhr_send` body carrying `n` 64-byte ASCII messages.
fn xhr_send_body(n: usize) -> Vec<u8> {
    let m = ascii_64();
    let items: Vec<String> = (0..n).map(|_| format!("\"{m}\"")).collect();
    format!("[{}]", items.join(",")).into_bytes()
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode_messages");
    let ascii = [ascii_64()];
    g.throughput(Throughput::Bytes(64));
    g.bench_function("1 x 64 B ASCII", |b| b.iter(|| encode_messages(black_box(&ascii[..]))));
    let ten: Vec<String> = (0..10).map(|_| ascii_64()).collect();
    g.throughput(Throughput::Bytes(640));
    g.bench_function("10 x 64 B ASCII", |b| b.iter(|| encode_messages(black_box(&ten[..]))));
    let mixed = [mixed_1k()];
    g.throughput(Throughput::Bytes(mixed[0].len() as u64));
    g.bench_function("1 x 1 KiB mixed escapes", |b| {
        b.iter(|| encode_messages(black_box(&mixed[..])))
    });
    g.finish();
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_messages (xhr_send body)");
    let limits = DecodeLimits::default();
    for n in [1usize, 100] {
        let body = xhr_send_body(n);
        assert_eq!(decode_messages(&body, limits).map(|v| v.len()), Ok(n));
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_with_input(BenchmarkId::new("64 B messages", n), &body, |b, body| {
            b.iter(|| decode_messages(black_box(body), limits))
        });
    }
    g.finish();
}

/// Runs every benchmark of this file (what `criterion_group!` would
/// generate, written out so that it carries a doc comment).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    encode(&mut c);
    decode(&mut c);
}

criterion_main!(benches);

//! `--metrics ADDR`: the library's metrics (its `metrics` feature) exported
//! in the Prometheus text format at `http://ADDR/metrics`, through
//! `metrics-exporter-prometheus`. The recorder is installed before any
//! service is built, since each service takes its metric handles when it
//! is created.

use http::{Response, StatusCode};
use http_body_util::Full;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::convert::Infallible;

/// Upper bounds of the outbound queue depth histogram's buckets.
const QUEUE_DEPTH_BUCKETS: [f64; 12] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];

/// Installs the recorder, binds `addr` and serves `/metrics` there; prints
/// `sockjs-test-server metrics on http://HOST:PORT/metrics` (with the port
/// picked when `addr` asks for port 0).
pub(crate) async fn start(addr: &str) -> Result<(), String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("sockjs_outbound_queue_depth".into()),
            &QUEUE_DEPTH_BUCKETS,
        )
        .map_err(|e| format!("--metrics: {e}"))?
        .install_recorder()
        .map_err(|e| format!("--metrics: {e}"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("--metrics: cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| format!("--metrics: {e}"))?;
    println!("sockjs-test-server metrics on http://{local}/metrics");
    let svc = tower::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let handle: PrometheusHandle = handle.clone();
        async move {
            let mut r = if req.uri().path() == "/metrics" {
                let mut r = Response::new(Full::from(handle.render()));
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                r
            } else {
                Response::new(Full::from("Not Found"))
            };
            if req.uri().path() != "/metrics" {
                *r.status_mut() = StatusCode::NOT_FOUND;
            }
            Ok::<_, Infallible>(r)
        }
    });
    tokio::spawn(async move {
        if let Err(e) = sockjs_server::serve(listener, svc).await {
            eprintln!("metrics server error: {e}");
        }
    });
    Ok(())
}

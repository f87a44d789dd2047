//! The HTTP surface of `SockJsService`, called in process with
//! `tower::ServiceExt::oneshot`: fixed pages, routing errors, CORS, cookies,
//! payload errors and the polling transports.

mod common;

use common::*;
use http::HeaderValue;
use sockjs_server::{BaseUrl, Config, CorsDecision, JSessionId, Transport};
use std::sync::Arc;

const JS: &str = "application/javascript; charset=UTF-8";
const TEXT: &str = "text/plain; charset=UTF-8";
const NO_CACHE: &str = "no-store, no-cache, no-transform, must-revalidate, max-age=0";
const A_YEAR: &str = "public, max-age=31536000";

fn json(s: &str) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_str(s).expect("valid JSON") {
        serde_json::Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

#[tokio::test]
async fn greeting_with_and_without_trailing_slash() {
    let svc = echo_service(Config::new("/echo"));
    for uri in ["/echo", "/echo/"] {
        let r = call(&svc, get(uri)).await;
        assert_eq!(header(&r, "content-type").as_deref(), Some(TEXT), "{uri}");
        assert_eq!(status_text(r).await, (200, "Welcome to SockJS!\n".to_owned()), "{uri}");
    }
}

#[tokio::test]
async fn info_json_and_headers() {
    let svc = echo_service(Config::new("/echo"));
    let r = call(&svc, get("/echo/info")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/json; charset=UTF-8")
    );
    assert_eq!(header(&r, "cache-control").as_deref(), Some(NO_CACHE));
    // No Origin: any origin, without credentials.
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(header(&r, "access-control-allow-credentials"), None);
    assert_eq!(header(&r, "set-cookie"), None);
    let info = json(&text(r.into_body()).await);
    let mut keys: Vec<&str> = info.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["cookie_needed", "entropy", "origins", "websocket"]);
    assert_eq!(info["websocket"], true);
    assert_eq!(info["cookie_needed"], false);
    assert_eq!(info["origins"], serde_json::json!(["*:*"]));
    let e1 = info["entropy"].as_u64().expect("entropy is a number");
    assert!(e1 <= u64::from(u32::MAX));

    // Each answer has fresh entropy (equal twice in a row: 1 in 2^32).
    let e2 = json(&text(call(&svc, get("/echo/info")).await.into_body()).await)["entropy"]
        .as_u64()
        .unwrap();
    assert_ne!(e1, e2);
}

#[tokio::test]
async fn info_reflects_origin_with_credentials() {
    let svc = echo_service(Config::new("/echo"));
    let r = call(
        &svc,
        request("GET", "/echo/info", &[("origin", "https://app.example")], ""),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    assert_eq!(header(&r, "access-control-allow-credentials").as_deref(), Some("true"));
    assert_eq!(header(&r, "vary").as_deref(), Some("Origin"));
}

#[tokio::test]
async fn options_preflight_headers() {
    let svc = echo_service(Config::new("/echo"));
    for (path, methods) in [
        ("/echo/info", "OPTIONS, GET"),
        ("/echo/000/s1/xhr", "OPTIONS, POST"),
        ("/echo/000/s1/xhr_send", "OPTIONS, POST"),
        ("/echo/000/s1/xhr_streaming", "OPTIONS, POST"),
    ] {
        let r = call(
            &svc,
            request(
                "OPTIONS",
                path,
                &[
                    ("origin", "https://app.example"),
                    ("access-control-request-headers", "content-type, x-custom"),
                ],
                "",
            ),
        )
        .await;
        assert_eq!(r.status(), 204, "{path}");
        assert_eq!(header(&r, "cache-control").as_deref(), Some(A_YEAR), "{path}");
        let expires = header(&r, "expires").expect("expires");
        let expires = httpdate_parse(&expires);
        let in_a_year = std::time::SystemTime::now() + std::time::Duration::from_secs(31_536_000);
        let diff = in_a_year.duration_since(expires).unwrap_or_else(|e| e.duration());
        assert!(diff.as_secs() < 60, "{path}: expires {diff:?} off a year from now");
        assert_eq!(
            header(&r, "access-control-allow-methods").as_deref(),
            Some(methods),
            "{path}"
        );
        assert_eq!(header(&r, "access-control-max-age").as_deref(), Some("31536000"));
        assert_eq!(
            header(&r, "access-control-allow-origin").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(header(&r, "access-control-allow-credentials").as_deref(), Some("true"));
        assert_eq!(
            header(&r, "access-control-allow-headers").as_deref(),
            Some("content-type, x-custom")
        );
        assert_eq!(header(&r, "set-cookie"), None);
        assert_eq!(text(r.into_body()).await, "");
    }
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) without a date crate.
fn httpdate_parse(s: &str) -> std::time::SystemTime {
    let p: Vec<&str> = s.split([' ', ':']).collect();
    assert_eq!((p.len(), p[7]), (8, "GMT"), "{s}");
    let day: u64 = p[1].parse().unwrap();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == p[2])
    .unwrap() as u64
        + 1;
    let year: u64 = p[3].parse().unwrap();
    let (h, mi, se): (u64, u64, u64) = (p[4].parse().unwrap(), p[5].parse().unwrap(), p[6].parse().unwrap());
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(days * 86_400 + h * 3600 + mi * 60 + se)
}

#[test]
fn httpdate_parse_is_right() {
    let t = httpdate_parse("Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), 784_111_777);
}

#[tokio::test]
async fn iframe_etag_and_304() {
    let svc = echo_service(Config::new("/echo").sockjs_url("/static/sockjs.js"));
    let r = call(&svc, get("/echo/iframe.html")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type").as_deref(), Some("text/html; charset=UTF-8"));
    assert_eq!(header(&r, "cache-control").as_deref(), Some(A_YEAR));
    assert!(header(&r, "expires").is_some());
    let etag = header(&r, "etag").expect("etag");
    assert!(etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let page = text(r.into_body()).await;
    assert!(page.starts_with("<!DOCTYPE html>\n"), "{page}");
    assert!(page.contains(r#"<script src="/static/sockjs.js"></script>"#), "{page}");
    assert!(page.contains("SockJS.bootstrap_iframe();"));

    // Versioned and queried names serve the same page.
    for uri in ["/echo/iframe-0.1.2abc-dirty.2144.html", "/echo/iframe-a.html?t=1234"] {
        let r = call(&svc, get(uri)).await;
        assert_eq!(header(&r, "etag").as_deref(), Some(etag.as_str()), "{uri}");
        assert_eq!(status_text(r).await, (200, page.clone()), "{uri}");
    }
    for uri in [
        "/echo/iframe.htm",
        "/echo/IFRAME.HTML",
        "/echo/iframe-/.html",
        "/echo/iframe.xml",
    ] {
        assert_eq!(call(&svc, get(uri)).await.status(), 404, "{uri}");
    }

    let r = call(
        &svc,
        request("GET", "/echo/iframe.html", &[("if-none-match", &etag)], ""),
    )
    .await;
    assert_eq!(r.status(), 304);
    assert_eq!(header(&r, "etag").as_deref(), Some(etag.as_str()));
    assert_eq!(header(&r, "content-type"), None);
    assert_eq!(text(r.into_body()).await, "");

    // A stale tag gets the page again.
    let r = call(
        &svc,
        request("GET", "/echo/iframe.html", &[("if-none-match", "\"stale\"")], ""),
    )
    .await;
    assert_eq!(status_text(r).await, (200, page));

    // Another client URL is another page with another tag.
    let other = echo_service(Config::new("/echo").sockjs_url("/other.js"));
    let r = call(&other, get("/echo/iframe.html")).await;
    assert_ne!(header(&r, "etag").as_deref(), Some(etag.as_str()));
}

#[tokio::test]
async fn not_found_outside_prefix_and_for_unknown_paths() {
    let svc = echo_service(Config::new("/echo"));
    for uri in [
        "/",
        "/other",
        "/echoes",
        "/echoes/info",
        "/echo/unknown",
        "/echo/000/s1/bogus",
        "/echo/000/s1",
        "/echo/000/s1/xhr/extra",
        "/echo/a.b/s1/xhr",
        "/echo/000/s.1/xhr",
        "/echo/000//xhr",
    ] {
        let r = call(&svc, post(uri, "")).await;
        assert_eq!(header(&r, "content-type").as_deref(), Some(TEXT), "{uri}");
        assert_eq!(status_text(r).await, (404, "Not Found".to_owned()), "{uri}");
    }
    // Nothing above created a session.
    assert_eq!(svc.session_count(), 0);
}

#[tokio::test]
async fn method_not_allowed_carries_allow() {
    let svc = echo_service(Config::new("/echo"));
    for (method, uri, allow) in [
        ("POST", "/echo", "GET"),
        ("POST", "/echo/info", "OPTIONS, GET"),
        ("DELETE", "/echo/info", "OPTIONS, GET"),
        ("POST", "/echo/iframe.html", "GET"),
        ("GET", "/echo/000/s1/xhr", "OPTIONS, POST"),
        ("GET", "/echo/000/s1/xhr_send", "OPTIONS, POST"),
        ("GET", "/echo/000/s1/xhr_streaming", "OPTIONS, POST"),
        ("GET", "/echo/000/s1/jsonp_send", "POST"),
        ("POST", "/echo/000/s1/jsonp", "GET"),
        ("POST", "/echo/000/s1/eventsource", "GET"),
        ("POST", "/echo/000/s1/htmlfile", "GET"),
        ("POST", "/echo/000/s1/websocket", "GET"),
        ("POST", "/echo/websocket", "GET"),
    ] {
        let r = call(&svc, request(method, uri, &[], "")).await;
        assert_eq!(header(&r, "allow").as_deref(), Some(allow), "{method} {uri}");
        assert_eq!(header(&r, "content-type"), None, "{method} {uri}");
        assert_eq!(status_text(r).await, (405, String::new()), "{method} {uri}");
    }
    assert_eq!(svc.session_count(), 0);
}

#[tokio::test]
async fn xhr_polling_roundtrip() {
    let svc = echo_service(Config::new("/echo"));
    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(header(&r, "content-type").as_deref(), Some(JS));
    assert_eq!(header(&r, "cache-control").as_deref(), Some(NO_CACHE));
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(status_text(r).await, (200, "o\n".to_owned()));
    assert_eq!(svc.session_count(), 1);

    let r = call(&svc, post("/echo/000/s1/xhr_send", r#"["x"]"#)).await;
    assert_eq!(header(&r, "content-type").as_deref(), Some(TEXT));
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(status_text(r).await, (204, String::new()));

    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(status_text(r).await, (200, "a[\"x\"]\n".to_owned()));

    // Escaping survives the round trip.
    let msg = r#"["\u2028 \"q\" \\ \u00e9"]"#;
    let r = call(&svc, post("/echo/000/s1/xhr_send", msg)).await;
    assert_eq!(r.status(), 204);
    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(
        status_text(r).await,
        (200, "a[\"\\u2028 \\\"q\\\" \\\\ \u{e9}\"]\n".to_owned())
    );
}

#[tokio::test]
async fn xhr_send_to_unknown_session_is_404() {
    let svc = echo_service(Config::new("/echo"));
    let r = call(&svc, post("/echo/000/nope/xhr_send", r#"["x"]"#)).await;
    assert_eq!(status_text(r).await, (404, "Not Found".to_owned()));
    let r = call(&svc, post("/echo/000/nope/jsonp_send", "d=%5B%22x%22%5D")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(svc.session_count(), 0);
}

#[tokio::test]
async fn xhr_send_payload_errors() {
    let svc = echo_service(Config::new("/echo").max_message_size(1024));
    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(status_text(r).await, (200, "o\n".to_owned()));
    let send = |body: String| call(&svc, post("/echo/000/s1/xhr_send", body));

    for broken in [r#"["x"#, "[x]", r#"{"a":1}"#, "[1]", r#"["x"] ["y"]"#, r#"["x",]"#] {
        let r = send(broken.to_owned()).await;
        assert_eq!(header(&r, "content-type").as_deref(), Some(TEXT), "{broken}");
        assert_eq!(
            status_text(r).await,
            (500, "Broken JSON encoding.".to_owned()),
            "{broken}"
        );
    }
    for empty in ["", "  \n"] {
        let r = send(empty.to_owned()).await;
        assert_eq!(status_text(r).await, (500, "Payload expected.".to_owned()), "{empty:?}");
    }
    let big = format!("[\"{}\"]", "a".repeat(5000));
    let r = send(big).await;
    assert_eq!(status_text(r).await, (413, "Payload too large.".to_owned()));
    // The limit is on decoded bytes, across all messages of one payload.
    let split = format!("[\"{}\",\"{}\"]", "a".repeat(600), "b".repeat(600));
    assert_eq!(send(split).await.status(), 413);
    // Exactly at the limit is fine.
    let at_limit = format!("[\"{}\"]", "c".repeat(1024));
    assert_eq!(send(at_limit).await.status(), 204);

    // A declared length far over the limit is refused before reading.
    let r = call(
        &svc,
        request(
            "POST",
            "/echo/000/s1/xhr_send",
            &[("content-length", "100000000")],
            r#"["x"]"#,
        ),
    )
    .await;
    assert_eq!(r.status(), 413);

    // None of the refused payloads reached the application.
    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(status_text(r).await, (200, format!("a[\"{}\"]\n", "c".repeat(1024))));
}

#[tokio::test]
async fn too_many_messages_in_one_send_is_413() {
    let svc = echo_service(Config::new("/echo").max_messages_per_send(3));
    call(&svc, post("/echo/000/s1/xhr", "")).await;
    let r = call(&svc, post("/echo/000/s1/xhr_send", r#"["1","2","3","4"]"#)).await;
    assert_eq!(r.status(), 413);
    let r = call(&svc, post("/echo/000/s1/xhr_send", r#"["1","2","3"]"#)).await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn jsonp_callback_errors_and_roundtrip() {
    let svc = echo_service(Config::new("/echo"));
    for (uri, body) in [
        ("/echo/000/s1/jsonp", "\"callback\" parameter required"),
        ("/echo/000/s1/jsonp?c=", "\"callback\" parameter required"),
        ("/echo/000/s1/jsonp?c=x%28", "invalid \"callback\" parameter"),
        ("/echo/000/s1/jsonp?c=a%20b", "invalid \"callback\" parameter"),
        ("/echo/000/s1/jsonp?c=%ff", "invalid \"callback\" parameter"),
        ("/echo/000/s1/htmlfile", "\"callback\" parameter required"),
        ("/echo/000/s1/htmlfile?c=x;alert(1)", "invalid \"callback\" parameter"),
    ] {
        let r = call(&svc, get(uri)).await;
        assert_eq!(status_text(r).await, (500, body.to_owned()), "{uri}");
    }
    // A refused callback does not open a session.
    assert_eq!(svc.session_count(), 0);

    let r = call(&svc, get("/echo/000/s1/jsonp?c=cb.x_1-2")).await;
    assert_eq!(header(&r, "content-type").as_deref(), Some(JS));
    assert_eq!(header(&r, "x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(status_text(r).await, (200, "/**/cb.x_1-2(\"o\");\r\n".to_owned()));

    let r = call(
        &svc,
        request(
            "POST",
            "/echo/000/s1/jsonp_send",
            &[("content-type", "application/x-www-form-urlencoded")],
            "d=%5B%22x%22%5D",
        ),
    )
    .await;
    assert_eq!(status_text(r).await, (200, "ok".to_owned()));
    // Raw JSON is accepted too.
    let r = call(&svc, post("/echo/000/s1/jsonp_send", r#"["y"]"#)).await;
    assert_eq!(status_text(r).await, (200, "ok".to_owned()));
    for (ct, body) in [("application/x-www-form-urlencoded", "d="), ("text/plain", "")] {
        let r = call(
            &svc,
            request("POST", "/echo/000/s1/jsonp_send", &[("content-type", ct)], body),
        )
        .await;
        assert_eq!(status_text(r).await, (500, "Payload expected.".to_owned()), "{body:?}");
    }

    let r = call(&svc, get("/echo/000/s1/jsonp?callback=cb")).await;
    assert_eq!(
        status_text(r).await,
        (200, "/**/cb(\"a[\\\"x\\\",\\\"y\\\"]\");\r\n".to_owned())
    );
}

#[tokio::test]
async fn disable_cors_drops_every_cors_trace() {
    let svc = echo_service(Config::new("/echo").disable_cors(true));
    let origin = [("origin", "https://app.example")];

    let r = call(&svc, request("GET", "/echo/info", &origin, "")).await;
    assert_eq!(cors_headers(&r), Vec::<String>::new());
    let info = json(&text(r.into_body()).await);
    assert!(!info.contains_key("origins"), "{info:?}");
    assert_eq!(info["websocket"], true);

    let r = call(&svc, get("/echo/iframe.html")).await;
    assert_eq!(r.status(), 404);

    let r = call(
        &svc,
        request(
            "OPTIONS",
            "/echo/000/s1/xhr",
            &[origin[0], ("access-control-request-headers", "x-a")],
            "",
        ),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(cors_headers(&r), Vec::<String>::new());

    for (uri, body) in [("/echo/000/s1/xhr", ""), ("/echo/000/s1/xhr_send", r#"["x"]"#)] {
        let r = call(&svc, request("POST", uri, &origin, body)).await;
        assert!(r.status().is_success(), "{uri}: {}", r.status());
        assert_eq!(cors_headers(&r), Vec::<String>::new(), "{uri}");
        assert_eq!(header(&r, "vary"), None);
    }

    // Switching it back on restores the default.
    let on = echo_service(Config::new("/echo").disable_cors(true).disable_cors(false));
    let r = call(&on, request("GET", "/echo/info", &origin, "")).await;
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
}

fn custom_cors_service() -> sockjs_server::SockJsService<impl sockjs_server::Handler> {
    echo_service(Config::new("/echo").custom_cors(|origin| {
        if origin == "https://good.example" {
            CorsDecision::Allow(HeaderValue::from_static("https://good.example"))
        } else {
            CorsDecision::Refuse
        }
    }))
}

#[tokio::test]
async fn custom_cors_refusal_is_403() {
    let svc = custom_cors_service();
    let bad = [("origin", "https://evil.example")];
    for (method, uri) in [
        ("GET", "/echo/info"),
        ("OPTIONS", "/echo/info"),
        ("OPTIONS", "/echo/000/s1/xhr"),
        ("POST", "/echo/000/s1/xhr"),
        ("POST", "/echo/000/s1/xhr_streaming"),
        ("GET", "/echo/000/s1/eventsource"),
        ("GET", "/echo/000/s1/jsonp?c=cb"),
        ("GET", "/echo/000/s1/websocket"),
        ("GET", "/echo/websocket"),
    ] {
        let r = call(&svc, request(method, uri, &bad, "")).await;
        assert_eq!(cors_headers(&r), Vec::<String>::new(), "{method} {uri}");
        assert_eq!(
            status_text(r).await,
            (403, "Origin not allowed.".to_owned()),
            "{method} {uri}"
        );
    }
    assert_eq!(svc.session_count(), 0);

    // The allowed origin gets the rule's value with credentials.
    let r = call(
        &svc,
        request("POST", "/echo/000/s1/xhr", &[("origin", "https://good.example")], ""),
    )
    .await;
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://good.example")
    );
    assert_eq!(header(&r, "access-control-allow-credentials").as_deref(), Some("true"));
    assert_eq!(status_text(r).await, (200, "o\n".to_owned()));

    // A refused origin cannot use someone else's session either.
    let r = call(&svc, request("POST", "/echo/000/s1/xhr_send", &bad, r#"["x"]"#)).await;
    assert_eq!(r.status(), 403);

    // No Origin at all: served as with the default policy.
    let r = call(&svc, get("/echo/info")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some("*"));
}

#[tokio::test]
async fn custom_cors_refusal_leaves_greeting_and_iframe_served() {
    // Documented scope: the greeting and the iframe page are same-origin
    // documents without CORS headers, so the rule does not apply to them.
    let svc = custom_cors_service();
    let bad = [("origin", "https://evil.example")];
    for uri in ["/echo", "/echo/iframe.html"] {
        let r = call(&svc, request("GET", uri, &bad, "")).await;
        assert_eq!(r.status(), 200, "{uri}");
        assert_eq!(header(&r, "access-control-allow-origin"), None, "{uri}");
    }
}

#[tokio::test]
async fn jsessionid_on_sets_cookie() {
    let svc = echo_service(Config::new("/echo").jsessionid(JSessionId::On));
    let info = json(&text(call(&svc, get("/echo/info")).await.into_body()).await);
    assert_eq!(info["cookie_needed"], true);
    // The protocol wants no cookie on GET /info itself.
    assert_eq!(header(&call(&svc, get("/echo/info")).await, "set-cookie"), None);

    let cookie = Some("JSESSIONID=dummy; path=/".to_owned());
    let r = call(&svc, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(header(&r, "set-cookie"), cookie);
    assert_eq!(text(r.into_body()).await, "o\n");
    let r = call(&svc, post("/echo/000/s1/xhr_send", r#"["x"]"#)).await;
    assert_eq!(header(&r, "set-cookie"), cookie);
    let r = call(&svc, request("OPTIONS", "/echo/info", &[], "")).await;
    assert_eq!(header(&r, "set-cookie"), cookie);
    let r = call(&svc, request("OPTIONS", "/echo/000/s1/xhr", &[], "")).await;
    assert_eq!(header(&r, "set-cookie"), cookie);
    let r = call(&svc, get("/echo/000/s2/jsonp?c=cb")).await;
    assert_eq!(header(&r, "set-cookie"), cookie);

    // The client's own value is echoed back.
    let r = call(
        &svc,
        request("POST", "/echo/000/s1/xhr", &[("cookie", "a=1; JSESSIONID=abc123")], ""),
    )
    .await;
    assert_eq!(header(&r, "set-cookie").as_deref(), Some("JSESSIONID=abc123; path=/"));
}

#[tokio::test]
async fn jsessionid_off_and_custom() {
    let off = echo_service(Config::new("/echo"));
    let r = call(&off, post("/echo/000/s1/xhr", "")).await;
    assert_eq!(header(&r, "set-cookie"), None);
    let r = call(&off, request("OPTIONS", "/echo/000/s1/xhr", &[], "")).await;
    assert_eq!(header(&r, "set-cookie"), None);

    let custom = echo_service(Config::new("/echo").jsessionid(JSessionId::Custom(Arc::new(|parts| {
        let host = parts.headers.get("host")?.to_str().ok()?;
        HeaderValue::from_str(&format!("lb={host}; path=/; HttpOnly")).ok()
    }))));
    let info = json(&text(call(&custom, get("/echo/info")).await.into_body()).await);
    assert_eq!(info["cookie_needed"], true);
    let r = call(&custom, request("POST", "/echo/000/s1/xhr", &[("host", "node-7")], "")).await;
    assert_eq!(header(&r, "set-cookie").as_deref(), Some("lb=node-7; path=/; HttpOnly"));
    let r = call(&custom, post("/echo/000/s1/xhr_send", r#"["x"]"#)).await;
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "set-cookie"), None);
}

#[tokio::test]
async fn base_url_in_info() {
    let fixed = echo_service(Config::new("/echo").base_url(BaseUrl::Fixed("https://cdn.example/echo".into())));
    let info = json(&text(call(&fixed, get("/echo/info")).await.into_body()).await);
    assert_eq!(info["base_url"], "https://cdn.example/echo");

    let per_request = echo_service(Config::new("/echo").base_url(BaseUrl::PerRequest(Arc::new(|parts| {
        let host = parts
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("none");
        format!("http://{host}/echo\"q")
    }))));
    let r = call(
        &per_request,
        request("GET", "/echo/info", &[("host", "n1.example:8080")], ""),
    )
    .await;
    let body = text(r.into_body()).await;
    assert!(
        body.contains(r#""base_url":"http://n1.example:8080/echo\"q""#),
        "{body}"
    );
    assert_eq!(json(&body)["base_url"], "http://n1.example:8080/echo\"q");

    // Without the option the key is absent.
    let none = echo_service(Config::new("/echo"));
    let info = json(&text(call(&none, get("/echo/info")).await.into_body()).await);
    assert!(!info.contains_key("base_url"));
}

#[tokio::test]
async fn disabled_transports_are_404() {
    let svc = echo_service(Config::new("/echo").transports([Transport::XhrPolling]));
    let info = json(&text(call(&svc, get("/echo/info")).await.into_body()).await);
    assert_eq!(info["websocket"], false);
    for (method, uri) in [
        ("POST", "/echo/000/s1/xhr_streaming"),
        ("GET", "/echo/000/s1/eventsource"),
        ("GET", "/echo/000/s1/htmlfile?c=cb"),
        ("GET", "/echo/000/s1/jsonp?c=cb"),
        ("POST", "/echo/000/s1/jsonp_send"),
        ("GET", "/echo/000/s1/websocket"),
        ("GET", "/echo/websocket"),
    ] {
        let r = call(&svc, request(method, uri, &[], "")).await;
        assert_eq!(status_text(r).await, (404, "Not Found".to_owned()), "{method} {uri}");
    }
    assert_eq!(svc.session_count(), 0);
    // The enabled one works, xhr_send included.
    assert_eq!(status_text(call(&svc, post("/echo/000/s1/xhr", "")).await).await.0, 200);
    assert_eq!(
        call(&svc, post("/echo/000/s1/xhr_send", r#"["x"]"#)).await.status(),
        204
    );

    // With only jsonp, xhr_send is gone even for a live session.
    let jsonp = echo_service(Config::new("/echo").transports([Transport::JsonpPolling]));
    assert_eq!(call(&jsonp, get("/echo/000/s1/jsonp?c=cb")).await.status(), 200);
    assert_eq!(jsonp.session_count(), 1);
    let r = call(&jsonp, post("/echo/000/s1/xhr_send", r#"["x"]"#)).await;
    assert_eq!(r.status(), 404);
    let r = call(&jsonp, post("/echo/000/s1/jsonp_send", r#"["x"]"#)).await;
    assert_eq!(r.status(), 200);

    // websocket(false) turns off both websocket routes and says so in /info.
    let no_ws = echo_service(Config::new("/echo").websocket(false));
    let info = json(&text(call(&no_ws, get("/echo/info")).await.into_body()).await);
    assert_eq!(info["websocket"], false);
    let upgrade = [
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ];
    for uri in ["/echo/000/s1/websocket", "/echo/websocket"] {
        let r = call(&no_ws, request("GET", uri, &upgrade, "")).await;
        assert_eq!(r.status(), 404, "{uri}");
    }
    assert_eq!(call(&no_ws, post("/echo/000/s1/xhr_streaming", "")).await.status(), 200);
}

#[tokio::test]
async fn disabled_transport_preflight_is_404() {
    let svc = echo_service(Config::new("/echo").transports([Transport::XhrPolling]));
    let r = call(&svc, request("OPTIONS", "/echo/000/s1/xhr_streaming", &[], "")).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn websocket_handshake_errors_in_process() {
    let svc = echo_service(Config::new("/echo"));
    let r = call(&svc, get("/echo/000/s1/websocket")).await;
    assert_eq!(
        status_text(r).await,
        (400, "Can \"Upgrade\" only to \"WebSocket\".".to_owned())
    );
    let r = call(&svc, request("GET", "/echo/websocket", &[("upgrade", "WebSocket")], "")).await;
    assert_eq!(
        status_text(r).await,
        (400, "\"Connection\" must be \"Upgrade\".".to_owned())
    );
    let r = call(
        &svc,
        request(
            "GET",
            "/echo/000/s1/websocket",
            &[
                ("upgrade", "websocket"),
                ("connection", "keep-alive, Upgrade"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("sec-websocket-version", "8"),
            ],
            "",
        ),
    )
    .await;
    assert_eq!(header(&r, "sec-websocket-version").as_deref(), Some("13"));
    assert_eq!(r.status(), 426);
    // A valid handshake without hyper's upgrade machinery cannot be served.
    let r = call(
        &svc,
        request(
            "GET",
            "/echo/000/s1/websocket",
            &[
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("sec-websocket-version", "13"),
            ],
            "",
        ),
    )
    .await;
    assert_eq!(r.status(), 500);
    assert_eq!(svc.session_count(), 0);
}

#[tokio::test]
async fn streaming_transports_framing() {
    let svc = echo_service(Config::new("/echo"));

    let r = call(&svc, post("/echo/000/s1/xhr_streaming", "")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type").as_deref(), Some(JS));
    assert_eq!(header(&r, "cache-control").as_deref(), Some(NO_CACHE));
    let mut body = r.into_body();
    assert_eq!(chunk(&mut body).await, Some(format!("{}\n", "h".repeat(2048))));
    assert_eq!(chunk(&mut body).await.as_deref(), Some("o\n"));
    // One message at a time: the echo may otherwise batch them in one frame.
    for m in ["a", "b"] {
        let r = call(&svc, post("/echo/000/s1/xhr_send", format!("[\"{m}\"]"))).await;
        assert_eq!(r.status(), 204);
        assert_eq!(chunk(&mut body).await, Some(format!("a[\"{m}\"]\n")));
    }
    drop(body);

    let r = call(&svc, get("/echo/000/s2/eventsource")).await;
    assert_eq!(header(&r, "content-type").as_deref(), Some("text/event-stream"));
    let mut body = r.into_body();
    assert_eq!(chunk(&mut body).await.as_deref(), Some("\r\n"));
    assert_eq!(chunk(&mut body).await.as_deref(), Some("data: o\r\n\r\n"));
    call(&svc, post("/echo/000/s2/xhr_send", r#"["<\r\n>"]"#)).await;
    assert_eq!(chunk(&mut body).await.as_deref(), Some("data: a[\"<\\r\\n>\"]\r\n\r\n"));
    drop(body);

    let r = call(&svc, get("/echo/000/s3/htmlfile?c=cb")).await;
    assert_eq!(header(&r, "content-type").as_deref(), Some("text/html; charset=UTF-8"));
    let mut body = r.into_body();
    let prelude = chunk(&mut body).await.unwrap();
    assert!(prelude.starts_with("<!doctype html>\n"), "{prelude}");
    assert!(prelude.contains("var c = parent.cb;"), "{prelude}");
    assert!(prelude.len() > 1024);
    assert_eq!(
        chunk(&mut body).await.as_deref(),
        Some("<script>\np(\"o\");\n</script>\r\n")
    );
    call(&svc, post("/echo/000/s3/xhr_send", r#"["</script>"]"#)).await;
    assert_eq!(
        chunk(&mut body).await.as_deref(),
        Some("<script>\np(\"a[\\\"\\u003c/script\\u003e\\\"]\");\n</script>\r\n")
    );
}

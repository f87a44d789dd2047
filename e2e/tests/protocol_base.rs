//! Static URLs of a SockJS service: greeting, `/info`, the iframe page, preflights, 404 and 405.

mod common;
use common::*;

const NODE_SERVICES: [&str; 7] = [
    "/echo",
    "/disabled_websocket_echo",
    "/cookie_needed_echo",
    "/close",
    "/ticker",
    "/amplify",
    "/broadcast",
];
const OUR_SERVICES: [&str; 2] = ["/disabled_cors_echo", "/custom_cors_echo"];

#[track_caller]
fn assert_greeting(r: &Response) {
    r.expect_status(200).expect_body("Welcome to SockJS!\n");
    r.expect("Content-Type", "text/plain; charset=UTF-8");
    r.expect_absent("Set-Cookie");
}

#[test]
fn greeting_with_and_without_trailing_slash() {
    let s = server();
    assert_greeting(&get(s, "/echo"));
    assert_greeting(&get(s, "/echo/"));
}

#[test]
fn greeting_on_every_sockjs_node_service() {
    let s = server();
    for p in NODE_SERVICES {
        assert_greeting(&get(s, p));
        assert_greeting(&get(s, &format!("{p}/")));
    }
}

#[test]
fn greeting_on_our_extra_services() {
    let s = server();
    for p in OUR_SERVICES {
        assert_greeting(&get(s, p));
        assert_greeting(&get(s, &format!("{p}/")));
    }
}

#[test]
fn unknown_sub_paths_are_404() {
    let s = server();
    for suffix in [
        "/a", "/a.html", "//", "///", "/a/a", "/a/a/", "/a/", "/a/b/c", "/a/b/c/d",
    ] {
        let r = get(s, &format!("/echo{suffix}"));
        assert_eq!(r.status, 404, "GET /echo{suffix}");
    }
}

#[test]
fn paths_outside_every_prefix_are_plain_404() {
    let s = server();
    for path in ["/", "/nothing", "/nothing/info", "/ech", "/info", "/iframe.html"] {
        let r = get(s, path);
        assert_eq!(r.status, 404, "GET {path}");
        let ct = r.header("Content-Type").unwrap_or("");
        assert!(ct.starts_with("text/plain"), "GET {path}: Content-Type {ct:?}");
    }
}

#[test]
fn prefix_matches_whole_segments_only() {
    let s = server();
    for path in [
        "/echoes",
        "/echoes/info",
        "/echo_x/info",
        "/echoinfo",
        "/echo2/000/abc/xhr",
        "/closed/info",
        "/broadcasting",
    ] {
        let r = get(s, path);
        assert_eq!(r.status, 404, "GET {path}");
    }
    let r = post(s, "/echoes/000/abc/xhr", b"");
    assert_eq!(r.status, 404, "POST /echoes/000/abc/xhr");
}

// ---------------------------------------------------------------------------------------------
// iframe
// ---------------------------------------------------------------------------------------------

fn iframe_page(sockjs_url: &str) -> String {
    [
        "<!DOCTYPE html>",
        "<html>",
        "<head>",
        "  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />",
        "  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />",
        &format!("  <script src=\"{sockjs_url}\"></script>"),
        "  <script>",
        "    document.domain = document.domain;",
        "    SockJS.bootstrap_iframe();",
        "  </script>",
        "</head>",
        "<body>",
        "  <h2>Don't panic!</h2>",
        "  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>",
        "</body>",
        "</html>",
    ]
    .join("\n")
}

/// Checks an iframe response and returns the sockjs_url it loads.
#[track_caller]
fn assert_iframe(r: &Response) -> String {
    r.expect_status(200);
    r.expect("Content-Type", "text/html; charset=UTF-8");
    assert_long_cached(r);
    assert!(r.header("ETag").map(|e| !e.is_empty()).unwrap_or(false), "ETag missing");
    r.expect_absent("Last-Modified");
    r.expect_absent("Set-Cookie");
    let body = r.text();
    let body = body.trim();
    let start = body.find("<script src=\"").expect("script tag") + "<script src=\"".len();
    let end = start + body[start..].find('"').unwrap();
    let url = body[start..end].to_string();
    assert!(url.starts_with('/') || url.starts_with("http"), "sockjs_url {url:?}");
    assert_eq!(body, iframe_page(&url));
    url
}

#[test]
fn iframe_page_plain_versioned_and_queried() {
    let s = server();
    let url = assert_iframe(&get(s, "/echo/iframe.html"));
    if std::env::var("SOCKJS_TEST_URL").is_err() {
        assert_eq!(url, "http://localhost:8080/lib/sockjs.js", "default --sockjs-url");
    }
    for suffix in [
        "/iframe-a.html",
        "/iframe-.html",
        "/iframe-0.1.2.html",
        "/iframe-0.1.2abc-dirty.2144.html",
        "/iframe-a.html?t=1234",
        "/iframe-0.1.2.html?t=123414",
        "/iframe-0.1.2abc-dirty.2144.html?t=qweqweq123",
        "/iframe.html?t=1",
    ] {
        assert_eq!(assert_iframe(&get(s, &format!("/echo{suffix}"))), url, "{suffix}");
    }
}

#[test]
fn iframe_page_uses_the_sockjs_url_flag() {
    let Some(s) = own_server(&["--sockjs-url", "https://cdn.example.test/sockjs-1.6.1.min.js"]) else {
        return;
    };
    let url = assert_iframe(&get(&s, "/broadcast/iframe.html"));
    assert_eq!(url, "https://cdn.example.test/sockjs-1.6.1.min.js");
}

#[test]
fn malformed_iframe_urls_are_404() {
    let s = server();
    for suffix in [
        "/iframe.htm",
        "/iframe",
        "/IFRAME.HTML",
        "/IFRAME",
        "/iframe.HTML",
        "/iframe.xml",
        "/iframe-/.html",
    ] {
        assert_eq!(get(s, &format!("/echo{suffix}")).status, 404, "{suffix}");
    }
}

#[test]
fn iframe_etag_is_stable_and_if_none_match_gives_304() {
    let s = server();
    let r1 = get(s, "/echo/iframe.html");
    let r2 = get(s, "/echo/iframe.html");
    let etag = r1.header("ETag").expect("ETag").to_string();
    assert_eq!(r2.header("ETag"), Some(etag.as_str()));
    let r = get_h(s, "/echo/iframe.html", &[("If-None-Match", &etag)]);
    r.expect_status(304);
    r.expect_absent("Content-Type");
    assert!(r.body.is_empty());
    // A different tag gets the full page.
    let r = get_h(s, "/echo/iframe.html", &[("If-None-Match", "\"not-the-tag\"")]);
    assert_iframe(&r);
}

// ---------------------------------------------------------------------------------------------
// /info
// ---------------------------------------------------------------------------------------------

fn info_json(r: &Response) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_slice(&r.body).expect("info JSON") {
        serde_json::Value::Object(m) => m,
        other => panic!("info is not an object: {other}"),
    }
}

#[test]
fn info_with_origin() {
    let s = server();
    let r = get_h(s, "/echo/info", &[("Origin", "test")]);
    r.expect_status(200);
    r.expect("Content-Type", "application/json; charset=UTF-8");
    r.expect_absent("Set-Cookie");
    assert_not_cached(&r);
    assert_cors(&r, Some("test"));
    let info = info_json(&r);
    assert_eq!(info["websocket"], serde_json::json!(true));
    assert_eq!(info["cookie_needed"], serde_json::json!(false));
    assert_eq!(info["origins"], serde_json::json!(["*:*"]));
    let e = info["entropy"].as_u64().expect("entropy is a non-negative integer");
    assert!(e <= u32::MAX as u64, "entropy {e} out of u32 range");
    let mut keys: Vec<_> = info.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["cookie_needed", "entropy", "origins", "websocket"]);
}

#[test]
fn info_without_origin_allows_star() {
    let s = server();
    let r = get(s, "/echo/info");
    r.expect_status(200);
    assert_cors(&r, None);
}

#[test]
fn info_entropy_differs_between_calls() {
    let s = server();
    let a = info_json(&get(s, "/echo/info"))["entropy"].as_u64().unwrap();
    let b = info_json(&get(s, "/echo/info"))["entropy"].as_u64().unwrap();
    let c = info_json(&get(s, "/echo/info"))["entropy"].as_u64().unwrap();
    assert!(a != b || b != c, "entropy repeated: {a} {b} {c}");
    assert_ne!(a, b);
}

#[test]
fn info_of_disabled_websocket_and_cookie_needed_services() {
    let s = server();
    let r = get(s, "/disabled_websocket_echo/info");
    r.expect_status(200);
    assert_eq!(info_json(&r)["websocket"], serde_json::json!(false));
    assert_eq!(info_json(&r)["cookie_needed"], serde_json::json!(false));

    let r = get(s, "/cookie_needed_echo/info");
    r.expect_status(200);
    r.expect_absent("Set-Cookie");
    assert_eq!(info_json(&r)["cookie_needed"], serde_json::json!(true));
    assert_eq!(info_json(&r)["websocket"], serde_json::json!(true));
}

// ---------------------------------------------------------------------------------------------
// OPTIONS
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn assert_preflight(s: &Server, path: &str, methods: &[&str]) {
    for origin in ["test", "null", "https://foo.example.org:8443"] {
        let req_method = methods.join(", ");
        let r = options(
            s,
            path,
            &[("Origin", origin), ("Access-Control-Request-Method", &req_method)],
        );
        r.expect_status(204);
        assert!(r.body.is_empty(), "{path}: preflight body must be empty");
        assert_long_cached(&r);
        let age: u64 = r
            .header("Access-Control-Max-Age")
            .expect("Access-Control-Max-Age")
            .parse()
            .unwrap();
        assert!(age >= 1_000_000, "{path}: Access-Control-Max-Age {age}");
        let allowed = r
            .header("Access-Control-Allow-Methods")
            .expect("Access-Control-Allow-Methods");
        for m in methods {
            assert!(
                allowed.split(',').any(|a| a.trim() == *m),
                "{path}: {m} not in {allowed:?}"
            );
        }
        assert_cors(&r, Some(origin));
    }
}

#[test]
fn info_preflight() {
    assert_preflight(server(), "/echo/info", &["OPTIONS", "GET"]);
}

#[test]
fn xhr_preflights() {
    let s = server();
    for suffix in ["/xhr", "/xhr_send", "/xhr_streaming"] {
        assert_preflight(s, &format!("/echo/abc/abc{suffix}"), &["OPTIONS", "POST"]);
    }
}

#[test]
fn preflight_without_origin_allows_star() {
    let s = server();
    let r = options(s, "/echo/abc/abc/xhr", &[("Access-Control-Request-Method", "POST")]);
    r.expect_status(204);
    assert_cors(&r, None);
}

#[test]
fn preflight_echoes_request_headers() {
    let s = server();
    let path = format!("{}/xhr", session_url("/echo"));
    let base = [("Origin", "test"), ("Access-Control-Request-Method", "POST")];

    let mut h = base.to_vec();
    h.push(("Access-Control-Request-Headers", "a, b, c"));
    let r = options(s, &path, &h);
    r.expect_status(204);
    assert_cors(&r, Some("test"));
    r.expect("Access-Control-Allow-Headers", "a, b, c");

    let mut h = base.to_vec();
    h.push(("Access-Control-Request-Headers", "Content-Type"));
    let r = options(s, "/echo/info", &h);
    r.expect("Access-Control-Allow-Headers", "Content-Type");

    let mut h = base.to_vec();
    h.push(("Access-Control-Request-Headers", ""));
    let r = options(s, &path, &h);
    r.expect_status(204);
    r.expect_absent("Access-Control-Allow-Headers");

    let r = options(s, &path, &base);
    r.expect_status(204);
    r.expect_absent("Access-Control-Allow-Headers");
}

// ---------------------------------------------------------------------------------------------
// 405
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn assert_405(r: &Response, must_allow: &[&str]) {
    r.expect_status(405);
    r.expect_absent("Content-Type");
    assert!(r.body.is_empty(), "405 body must be empty: {:?}", r.text());
    let allow = r.header("Allow").expect("Allow header");
    assert!(!allow.is_empty());
    for m in must_allow {
        assert!(allow.split(',').any(|a| a.trim() == *m), "{m} not in Allow {allow:?}");
    }
}

#[test]
fn wrong_method_on_known_path_is_405() {
    let s = server();
    let session = session_url("/echo");
    assert_405(&post(s, "/echo/info", b""), &["GET"]);
    assert_405(&req(s, "DELETE", "/echo/info", &[], b""), &["GET", "OPTIONS"]);
    assert_405(&post(s, "/echo/iframe.html", b""), &["GET"]);
    assert_405(&get(s, &format!("{session}/xhr")), &["POST", "OPTIONS"]);
    assert_405(&get(s, &format!("{session}/xhr_send")), &["POST", "OPTIONS"]);
    assert_405(&get(s, &format!("{session}/xhr_streaming")), &["POST", "OPTIONS"]);
    assert_405(&post(s, &format!("{session}/eventsource"), b""), &["GET"]);
    assert_405(&post(s, &format!("{session}/htmlfile?c=x"), b""), &["GET"]);
    assert_405(&post(s, &format!("{session}/jsonp?c=x"), b""), &["GET"]);
    assert_405(&get(s, &format!("{session}/jsonp_send")), &["POST"]);
    // None of these created the session.
    let r = post(s, &format!("{session}/xhr_send"), br#"["x"]"#);
    assert_eq!(r.status, 404, "a 405 must not create a session");
}

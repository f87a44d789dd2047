//! The command line: `sockjs-soak`'s flags and their defaults.

use std::time::Duration;

/// Command-line options.
#[derive(Clone)]
pub(crate) struct Opts {
    pub(crate) duration: Duration,
    pub(crate) workers: usize,
    pub(crate) messages: usize,
    pub(crate) disconnect_ms: u64,
    pub(crate) response_limit: usize,
    pub(crate) rounds: usize,
    /// `host:port` of a server already running (its `/echo` service is
    /// soaked) instead of a child; `None` starts the child.
    pub(crate) target: Option<String>,
    /// That server's process id, for its memory.
    pub(crate) server_pid: Option<u32>,
    /// Print one JSON line with the figures at the end.
    pub(crate) json: bool,
    /// The server's name in the JSON line.
    pub(crate) label: String,
}

/// The options, and whether to run as the server child (`--serve`).
pub(crate) fn parse() -> Result<(Opts, bool), String> {
    let mut o = Opts {
        duration: Duration::from_secs(60),
        workers: 100,
        messages: 20,
        disconnect_ms: 1000,
        response_limit: 4096,
        rounds: 3,
        target: None,
        server_pid: None,
        json: false,
        label: "soak".into(),
    };
    let mut serve = false;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = || -> Result<u64, String> {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value"))?
                .parse()
                .map_err(|e| format!("{flag}: {e}"))
        };
        match flag.as_str() {
            "--duration" => o.duration = Duration::from_secs(num()?),
            "--workers" => o.workers = num()?.max(1) as usize,
            "--messages" => o.messages = num()?.max(1) as usize,
            "--disconnect-delay-ms" => o.disconnect_ms = num()?,
            "--response-limit" => o.response_limit = num()? as usize,
            "--rounds" => o.rounds = num()?.max(1) as usize,
            "--serve" => serve = true,
            "--server-pid" => o.server_pid = Some(num()? as u32),
            "--json" => o.json = true,
            "--target" | "--label" => {
                let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
                if flag == "--label" {
                    o.label = v;
                } else {
                    let authority = v.strip_prefix("http://").unwrap_or(&v).trim_end_matches('/');
                    o.target = Some(authority.to_owned());
                }
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if o.target.is_some() != o.server_pid.is_some() {
        return Err("--target and --server-pid go together".into());
    }
    Ok((o, serve))
}

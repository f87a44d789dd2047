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
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok((o, serve))
}

//! Slow and idle sockets cannot starve the HTTP server: the real binary, under a descriptor
//! limit of 256, with more idle connections than that and a client sending its request one byte
//! at a time, still answers `/healthz` to a new client, and closes the idle and the slow ones.
//! Loopback only; every loop is bounded in count and time.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Idle connections opened: more than the descriptor limit allows the process to hold.
const IDLE: usize = 320;

/// The server process, stopped when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `consentgate serve` after the shell command `limits` (e.g. `ulimit -n 256`) and returns
/// it with its address and the log line of its connection cap.
fn spawn(dir: &std::path::Path, limits: &str) -> (Server, String, serde_json::Value) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(r#"{limits} && exec "$0" --log-format json serve"#))
        .arg(env!("CARGO_BIN_EXE_consentgate"))
        .current_dir(dir)
        .env_clear()
        .env("CONSENTGATE_HTTP_ADDR", "127.0.0.1:0")
        .env("CONSENTGATE_HTTP_HEADER_TIMEOUT_SECS", "2")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh and the consentgate binary");
    let stderr = child.stderr.take().unwrap();
    let child = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut cap = serde_json::Value::Null;
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the start-up line");
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if parsed["message"] == "HTTP connection cap" {
            cap = parsed.clone();
        }
        if parsed["message"] == "ConsentGate is serving" {
            break parsed["addr"].as_str().unwrap().to_string();
        }
    };
    // Keep draining the log so the process never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    (child, addr, cap)
}

#[test]
fn a_low_soft_descriptor_limit_is_raised_to_the_hard_one() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, cap) = spawn(dir.path(), "ulimit -Sn 256 && ulimit -Hn 512");
    assert_eq!(cap["descriptors"], 512, "{cap}");
    assert_eq!(cap["max_connections"], 512 - 128, "{cap}");
    assert_eq!(
        healthz(&addr, Duration::from_secs(10)).as_deref(),
        Ok("HTTP/1.1 200 OK")
    );
}

/// `GET /healthz` on a new connection; the status line, or why there was none.
fn healthz(addr: &str, timeout: Duration) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("no answer: {e}"))?;
    Ok(response.lines().next().unwrap_or_default().to_string())
}

/// Whether the server closed `stream` within `limit` (a read returns end of file or an error).
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            // A 408 or similar before closing still counts as the server letting go.
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn idle_and_slow_sockets_do_not_starve_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, _) = spawn(dir.path(), "ulimit -n 256");
    assert_eq!(
        healthz(&addr, Duration::from_secs(10)).as_deref(),
        Ok("HTTP/1.1 200 OK")
    );

    // More idle connections than the process has descriptors.
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        match TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2)) {
            Ok(s) => idle.push(s),
            Err(_) => break,
        }
    }
    assert!(
        idle.len() > 256,
        "only {} idle connections opened",
        idle.len()
    );
    // One client sending its request head a byte every 300 ms.
    let mut slow = TcpStream::connect(&addr).unwrap();
    let slow_started = Instant::now();
    let slow_writer = {
        let mut s = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            for b in b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: "
                .iter()
                .cycle()
                .take(60)
            {
                if s.write_all(&[*b]).is_err() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            false
        })
    };

    // A new client is answered, within a few header timeouts.
    let started = Instant::now();
    let answered = healthz(&addr, Duration::from_secs(30));
    assert_eq!(
        answered.as_deref(),
        Ok("HTTP/1.1 200 OK"),
        "after {:?}",
        started.elapsed()
    );
    // The slow sender was cut off long before its 18 s of bytes were through.
    assert!(
        closed_within(&mut slow, Duration::from_secs(10)),
        "the byte-at-a-time client kept its socket"
    );
    assert!(slow_started.elapsed() < Duration::from_secs(15));
    assert!(
        slow_writer.join().unwrap(),
        "the slow client could write all its bytes"
    );
    // An idle connection that was accepted was closed by the server.
    assert!(
        closed_within(&mut idle[0], Duration::from_secs(10)),
        "an idle connection was kept open"
    );
}

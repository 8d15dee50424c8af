//! `consentgate read-pdf` (hidden): the text of a PDF on standard input, written to standard
//! output. `serve` runs it as a child process for each PDF an owner adds, so a file built to
//! overflow the PDF library's stack or to exhaust memory ends this process only. It limits
//! itself first: 1 GiB of address space, 30 seconds of CPU, no core file, first to go when
//! memory runs out.

use std::io::{Read, Write};

use anyhow::Result;

use crate::knowledge::{self, PDF_NOT_TEXT, PDF_TOO_LONG, Unreadable};

/// The largest file read (the knowledge base takes 2 MB).
const MOST_BYTES: u64 = 4 * 1024 * 1024;

pub(super) fn run() -> Result<()> {
    limit_self();
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MOST_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MOST_BYTES {
        std::process::exit(PDF_NOT_TEXT);
    }
    match knowledge::pdf_text(&bytes) {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(())
        }
        Err(Unreadable::TooLong) => std::process::exit(PDF_TOO_LONG),
        Err(_) => std::process::exit(PDF_NOT_TEXT),
    }
}

/// Memory and CPU limits on this process, where the platform has them.
fn limit_self() {
    #[cfg(unix)]
    {
        let set = |resource, value: libc::rlim_t| {
            let limit = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            // SAFETY: setrlimit only reads the struct it is given; lowering a limit needs no
            // privilege. On failure the old limit stays.
            unsafe { libc::setrlimit(resource, &limit) };
        };
        set(libc::RLIMIT_AS, 1024 * 1024 * 1024);
        set(libc::RLIMIT_CPU, 30);
        // A crash leaves no core file: it would hold the document.
        set(libc::RLIMIT_CORE, 0);
    }
    // Under memory pressure the kernel ends this process before the gateway.
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
}

//! PDFs are read in a child process of the real binary (`consentgate read-pdf`): a file built to
//! overflow the PDF library's stack kills that child, and the caller gets "unreadable", not a
//! crash of its own.

use std::{io::Write, process::Stdio};

use consentgate::knowledge::{Unreadable, read_pdf_in};

const BIN: &str = env!("CARGO_BIN_EXE_consentgate");

#[tokio::test]
async fn a_pdf_is_read_in_a_child_and_a_hostile_one_kills_only_the_child() {
    let good = consentgate_e2e::pdf::saying("We open at 8 on weekdays.");
    let text = read_pdf_in(BIN.as_ref(), good).await.expect("read");
    assert!(text.contains("We open at 8 on weekdays."), "{text}");

    // The hostile file really does crash whoever parses it…
    let hostile = consentgate_e2e::pdf::nested(200_000);
    let mut child = std::process::Command::new(BIN)
        .arg("read-pdf")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(&hostile);
    let status = child.wait().unwrap();
    assert!(!status.success(), "{status:?}");
    // …and through the gateway's reader it is only an unreadable file.
    assert!(matches!(
        read_pdf_in(BIN.as_ref(), hostile).await,
        Err(Unreadable::NotText)
    ));
    // Not a PDF at all.
    assert!(matches!(
        read_pdf_in(BIN.as_ref(), b"hello".to_vec()).await,
        Err(Unreadable::NotText)
    ));
}

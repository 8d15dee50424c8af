//! Redaction throughput on chat text at 1 KB, 100 KB and 10 MB (`cargo bench --bench redact`).
//!
//! The text mixes languages and holds personal data at about the density of real support chats
//! (one item every ~110 bytes), plus look-alikes (dates, amounts, order numbers). Prints MB/s
//! and ns per byte for each size, so linear cost shows as a flat ns/byte.

use std::time::{Duration, Instant};

use consentgate::redact::{Hints, Placeholders, RedactSettings, Redactor};

const SENTENCES: [&str; 12] = [
    "Hello, I ordered a blue jacket last week and it has not arrived yet. ",
    "Please call me on +7 912 345-67-89 after six. ",
    "Здравствуйте! Мой заказ № 4567891234 от 15.01.2024 до сих пор не доставлен. ",
    "Можно оплатить картой 2200 0000 0000 0004? Сумма 12 500 руб. ",
    "سلام، شماره من ۰۹۱۲۳۴۵۶۷۸۹ است و کد ملی من 0499370899 می‌باشد. ",
    "Write to ivan.petrov@example.com or to @ivan_petrov, thanks. ",
    "Guten Tag, meine IBAN ist DE89 3704 0044 0532 0130 00, bitte erstatten. ",
    "The meeting is at 10:30 on 2024-03-01 in room 1205, floor 12. ",
    "Bonjour, je voudrais changer l'adresse de livraison s'il vous plaît. ",
    "My server 203.0.113.45 cannot reach your API since version 1.2.3. ",
    "Merhaba, siparişim hâlâ gelmedi, 0532 123 45 67 numarasından ulaşabilirsiniz. ",
    "Добрий день, я хочу повернути товар, він не підійшов за розміром. ",
];

fn text_of(size: usize) -> String {
    let mut text = String::with_capacity(size + 200);
    let mut i = 0;
    while text.len() < size {
        text.push_str(SENTENCES[i % SENTENCES.len()]);
        i += 1;
    }
    text
}

fn main() {
    let redactor = Redactor::new(RedactSettings {
        max_chars: usize::MAX,
        ..Default::default()
    });
    let hints = Hints {
        terms: vec!["Ivanushka".into(), "Petrov".into(), "ivan_p".into()],
    };
    println!(
        "{:>8} {:>10} {:>10} {:>8} {:>12}",
        "size", "MB/s", "ns/byte", "runs", "redactions"
    );
    for size in [1_000, 100_000, 10_000_000] {
        let text = text_of(size);
        let budget = Duration::from_secs(if size >= 10_000_000 { 10 } else { 3 });
        let mut runs = 0u32;
        let mut redactions = 0;
        let started = Instant::now();
        // Bounded: stops at the time budget or 100,000 runs.
        while started.elapsed() < budget && runs < 100_000 {
            let out = redactor
                .redact(&text, &hints, &mut Placeholders::new())
                .expect("redaction");
            redactions = out.counts().values().sum::<usize>();
            runs += 1;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let bytes = text.len() as f64 * f64::from(runs);
        println!(
            "{:>8} {:>10.1} {:>10.2} {:>8} {:>12}",
            text.len(),
            bytes / elapsed / 1e6,
            elapsed * 1e9 / bytes,
            runs,
            redactions
        );
    }
}

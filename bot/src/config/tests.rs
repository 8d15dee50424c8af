//! Loading and validating the configuration.

use super::*;
use crate::redact::Kind;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn nothing_set_gives_the_embedded_default() {
    let c = Config::load(None, &env(&[])).unwrap();
    assert_eq!(c.mode, Mode::Dev);
    assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
    assert_eq!(c.http_addr.to_string(), DEFAULT_HTTP_ADDR);
    assert!(matches!(c.llm, LlmSettings::Echo));
    assert!(c.webchat.enabled && c.bots.is_empty());
    assert_eq!(c.secrets_file, PathBuf::from("consentgate.secrets"));
}

#[test]
fn two_variables_give_a_telegram_bot() {
    let c = Config::load(
        None,
        &env(&[
            ("TELEGRAM_BOT_TOKEN", "123:abc"),
            ("TELEGRAM_API_URL", "http://127.0.0.1:9/"),
        ]),
    )
    .unwrap();
    assert_eq!(c.bots.len(), 1);
    assert_eq!(c.bots[0].name, "telegram");
    assert_eq!(c.bots[0].api_url.as_str(), "http://127.0.0.1:9/");
    assert!(c.bots[0].webhook_url.is_none());
}

#[test]
fn a_webhook_url_switches_the_bot_to_webhook_mode_and_is_checked() {
    let c = Config::load(
        None,
        &env(&[
            ("TELEGRAM_BOT_TOKEN", "123:abc"),
            (
                "TELEGRAM_WEBHOOK_URL",
                "https://bot.example.com/webhooks/telegram/telegram",
            ),
        ]),
    )
    .unwrap();
    assert!(c.bots[0].webhook_url.is_some());
    for (url, needle) in [
        ("http://bot.example.com/hook", "https"),
        ("https://bot.example.com/123:abc/hook", "token"),
    ] {
        let err = Config::load(
            None,
            &env(&[
                ("TELEGRAM_BOT_TOKEN", "123:abc"),
                ("TELEGRAM_WEBHOOK_URL", url),
            ]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("TELEGRAM_WEBHOOK_URL") && err.to_string().contains(needle),
            "{err}"
        );
    }
    let err = Config::load(
        None,
        &env(&[
            ("TELEGRAM_BOT_TOKEN", "123:abc"),
            ("TELEGRAM_WEBHOOK_URL", "https://bot.example.com/hook"),
            ("TELEGRAM_WEBHOOK_SECRET", "short"),
        ]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("TELEGRAM_WEBHOOK_SECRET"), "{err}");
}

#[test]
fn errors_name_the_variable() {
    let err = Config::load(None, &env(&[("CONSENTGATE_MODE", "prod")])).unwrap_err();
    assert!(err.to_string().contains("CONSENTGATE_MODE"), "{err}");
    let err = Config::load(None, &env(&[("CONSENTGATE_HTTP_ADDR", "localhost")])).unwrap_err();
    assert!(err.to_string().contains("CONSENTGATE_HTTP_ADDR"), "{err}");
    let err = Config::load(None, &env(&[("LLM_BASE_URL", "http://x/v1")])).unwrap_err();
    assert!(err.to_string().contains("LLM_MODEL"), "{err}");
    let err = Config::load(None, &env(&[("TELEGRAM_BOT_TOKEN", "nocolon")])).unwrap_err();
    assert!(err.to_string().contains("TELEGRAM_BOT_TOKEN"), "{err}");
    let err = Config::load(None, &env(&[("WHATSAPP_APP_SECRET", "x")])).unwrap_err();
    assert!(err.to_string().contains("WHATSAPP_APP_SECRET"), "{err}");
    let err = Config::load(
        None,
        &env(&[("CONSENTGATE_DATABASE_URL", "sqlite://x.db?synchronous=off")]),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("CONSENTGATE_DATABASE_URL")
            && err.to_string().contains("full or normal"),
        "{err}"
    );
}

#[test]
fn file_with_unknown_key_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "mode = \"dev\"\ndatabse_url = \"x\"\n").unwrap();
    let err = Config::load(Some(&path), &env(&[])).unwrap_err();
    assert!(err.to_string().contains("databse_url"), "{err}");
}

#[test]
fn file_describes_many_bots_and_env_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        r#"
database_url = "sqlite://data/x.db?mode=rwc"
[llm]
provider = "openai"
base_url = "http://127.0.0.1:1/v1"
model = "m"
[[bots]]
name = "shop"
channel = "telegram"
token_env = "SHOP_TOKEN"
[[bots]]
name = "shop-bale"
channel = "bale"
token_env = "SHOP_BALE_TOKEN"
"#,
    )
    .unwrap();
    let c = Config::load(
        Some(&path),
        &env(&[
            ("SHOP_TOKEN", "1:a"),
            ("SHOP_BALE_TOKEN", "2:b"),
            ("CONSENTGATE_DATABASE_URL", "sqlite://other.db?mode=rwc"),
        ]),
    )
    .unwrap();
    assert_eq!(c.bots.len(), 2);
    assert_eq!(c.bots[1].api_url.as_str(), "https://tapi.bale.ai/");
    assert_eq!(c.database_url, "sqlite://other.db?mode=rwc");
    assert!(matches!(c.llm, LlmSettings::OpenAi { .. }));
    let err = Config::load(Some(&path), &env(&[("SHOP_TOKEN", "1:a")])).unwrap_err();
    assert!(err.to_string().contains("SHOP_BALE_TOKEN"), "{err}");
}

#[test]
fn the_shipped_example_configuration_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/consentgate.example.toml");
    let c = Config::load(Some(&path), &env(&[("SHOP_TELEGRAM_TOKEN", "1:x")])).unwrap();
    assert_eq!(c.bots[0].name, "shop");
    assert!(c.policy.file.unwrap().ends_with("policy.example.txt"));
    assert!(matches!(c.llm, LlmSettings::OpenAi { .. }));
}

#[test]
fn purposes_and_retention_are_validated_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let load = |text: &str| {
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path), &env(&[]))
    };
    let c = load("").unwrap();
    let names: Vec<&str> = c.purposes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["assistant", "history", "marketing"]);
    assert!(
        c.purposes[0].text.contains("offline echo"),
        "{:?}",
        c.purposes[0]
    );
    assert!(c.purposes[1].text.contains("30 days"));
    let c = load("[llm]\nrecipient = \"Acme AI\"\n[retention]\nconversation_days = 7\n[[purposes]]\nname = \"assistant\"\n[[purposes]]\nname = \"history\"\n").unwrap();
    assert!(c.purposes[0].text.contains("Acme AI"));
    assert!(c.purposes[1].text.contains("7 days"));
    assert_eq!(c.purposes.len(), 2);
    for (text, place) in [
        ("[[purposes]]\nname = \"history\"\n", "purposes"),
        (
            "[[purposes]]\nname = \"assistant\"\nrequired = false\n",
            "purposes",
        ),
        (
            "[[purposes]]\nname = \"assistant\"\n[[purposes]]\nname = \"marketing\"\nrequired = true\n",
            "purposes",
        ),
        (
            "[[purposes]]\nname = \"assistant\"\n[[purposes]]\nname = \"Survey\"\n",
            "purposes[1].name",
        ),
        (
            "[[purposes]]\nname = \"assistant\"\n[[purposes]]\nname = \"survey\"\n",
            "purposes[1].title",
        ),
        (
            "[retention]\ntemporary_days = 3\n",
            "retention.temporary_days",
        ),
        (
            "[retention]\nsweep_interval_secs = 1\n",
            "retention.sweep_interval_secs",
        ),
    ] {
        let err = load(text).unwrap_err();
        assert!(err.place.starts_with(place), "{text}: {err}");
    }
    let c = Config::load(None, &env(&[("CONSENTGATE_ERASURE_GRACE_DAYS", "0")])).unwrap();
    assert_eq!(c.retention.erasure_grace_days, 0);
    let err = Config::load(None, &env(&[("CONSENTGATE_ERASURE_GRACE_DAYS", "soon")])).unwrap_err();
    assert_eq!(err.place, "CONSENTGATE_ERASURE_GRACE_DAYS");
}

#[test]
fn oauth_providers_come_from_definitions_the_file_and_the_environment() {
    let c = Config::load(None, &env(&[])).unwrap();
    assert!(c.oauth.is_empty(), "no client id, no provider");
    let c = Config::load(
        None,
        &env(&[
            ("OAUTH_GOOGLE_CLIENT_ID", "cid"),
            ("OAUTH_GOOGLE_CLIENT_SECRET", "shh"),
            ("OAUTH_GOOGLE_TOKEN_URL", "http://127.0.0.1:9/token"),
            ("TELEGRAM_BOT_TOKEN", "1:x"),
            ("TELEGRAM_OWNER_IDS", "42, 43"),
        ]),
    )
    .unwrap();
    let google = &c.oauth[0];
    assert_eq!(google.title, "Google");
    assert_eq!(google.token_url.as_str(), "http://127.0.0.1:9/token");
    assert!(
        google
            .authorize_url
            .as_str()
            .starts_with("https://accounts.google.com/")
    );
    assert!(google.describe_scopes()[0].contains("Google Sheets"));
    assert_eq!(
        format!("{:?}", google.client_secret),
        "Some(Secret(<redacted>))"
    );
    assert_eq!(c.owners["telegram"], ["42", "43"]);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let load = |text: &str| {
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path), &env(&[("CRM_SECRET", "s")]))
    };
    let c = load("[oauth.crm]\nclient_id = \"gw\"\nclient_secret_env = \"CRM_SECRET\"\nauthorize_url = \"https://crm.example/a\"\ntoken_url = \"https://crm.example/t\"\nscopes = [\"contacts.read\"]\nscope_words = { \"contacts.read\" = \"read your contacts\" }\n").unwrap();
    assert_eq!(c.oauth[0].name, "crm");
    assert_eq!(c.oauth[0].describe_scopes(), ["read your contacts"]);
    assert!(c.oauth[0].client_secret.is_some());
    let err = load("[oauth.crm]\nclient_id = \"gw\"\nauthorize_url = \"https://crm.example/a\"\ntoken_url = \"https://crm.example/t\"\n").unwrap_err();
    assert_eq!(err.place, "oauth.crm.scopes");
    let err = load("[oauth.crm]\nclient_id = \"gw\"\nscopes = [\"x\"]\n").unwrap_err();
    assert_eq!(err.place, "oauth.crm.authorize_url");
}

#[test]
fn redaction_settings_are_validated_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let load = |text: &str| {
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path), &env(&[]))
    };
    let c = load("[redact]\nphone_regions = [\"ir\", \"RU\"]\n[redact.detectors.phone]\nlabel = \"TEL\"\n[redact.detectors.email]\nenabled = false\n[[redact.patterns]]\nlabel = \"CONTRACT\"\npattern = \"CT-\\\\d{6}\"\n").unwrap();
    assert_eq!(c.redact.phone_regions.len(), 2);
    assert_eq!(c.redact.labels[&Kind::Phone], "TEL");
    assert_eq!(c.redact.disabled, vec![Kind::Email]);
    assert_eq!(c.redact.custom[0].label, "CONTRACT");
    let err = load("[redact]\nphone_regions = [\"Russia\"]\n").unwrap_err();
    assert!(err.to_string().contains("redact.phone_regions"), "{err}");
    let err = load("[[redact.patterns]]\nlabel = \"X\"\npattern = \"(\"\n").unwrap_err();
    assert!(
        err.to_string().contains("redact.patterns[0].pattern"),
        "{err}"
    );
    let err = load("[redact.detectors.phon]\nenabled = false\n").unwrap_err();
    assert!(err.to_string().contains("redact.detectors.phon"), "{err}");
}

#[test]
fn secrets_file_sits_beside_the_sqlite_file() {
    assert_eq!(
        default_secrets_file("sqlite:///var/lib/cg/db.sqlite?mode=rwc"),
        PathBuf::from("/var/lib/cg/consentgate.secrets")
    );
}

#[test]
fn the_session_cookie_is_secure_by_default_behind_an_https_public_url() {
    let plain = Config::load(None, &env(&[])).unwrap();
    assert!(!plain.webchat.secure_cookie);
    let https = Config::load(
        None,
        &env(&[("CONSENTGATE_PUBLIC_URL", "https://chat.example.com")]),
    )
    .unwrap();
    assert!(https.webchat.secure_cookie);
}

mod arbitrary_input {
    use super::super::{Config, env::VARIABLES};
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// TOML-ish text: real keys and tables among random ones, values of every kind.
    fn toml_text() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("mode"),
            Just("database_url"),
            Just("http_addr"),
            Just("messages_per_minute"),
            Just("public_url"),
            Just("provider"),
            Just("base_url"),
            Just("timeout_secs"),
            Just("history_messages"),
            Just("name"),
            Just("channel"),
            Just("token_env"),
            Just("required"),
            Just("max_connections"),
            Just("conversation_days"),
            Just("phone_regions"),
            Just("pattern"),
            Just("label"),
        ];
        let table = prop_oneof![
            Just(""),
            Just("[llm]\n"),
            Just("[http]\n"),
            Just("[retention]\n"),
            Just("[redact]\n"),
            Just("[webchat]\n"),
            Just("[[bots]]\n"),
            Just("[[purposes]]\n"),
            Just("[oauth.crm]\n"),
            Just("[[redact.patterns]]\n"),
        ];
        let value = prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            "\\PC{0,16}".prop_map(|s| format!("{s:?}")),
            Just("[\"RU\", \"??\"]".to_string()),
            Just("\"(\"".to_string()),
        ];
        prop::collection::vec((table, key, value, "\\PC{0,6}"), 0..10).prop_map(|lines| {
            lines
                .into_iter()
                .map(|(t, k, v, junk)| format!("{t}{k} = {v}\n{junk}\n"))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_configuration_file_loads_or_is_refused_with_a_place(text in toml_text()) {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("c.toml");
            std::fs::write(&file, &text).unwrap();
            if let Err(err) = Config::load(Some(&file), &HashMap::<String, String>::new()) {
                prop_assert!(!err.place.is_empty());
            }
        }

        #[test]
        fn any_environment_loads_or_is_refused_with_a_place(
            values in prop::collection::vec(prop::option::of("\\PC{0,24}"), VARIABLES.len())
        ) {
            let env: HashMap<String, String> = VARIABLES
                .iter()
                .zip(values)
                .filter_map(|(v, value)| Some((v.name.replace("<NAME>", "GOOGLE"), value?)))
                .collect();
            if let Err(err) = Config::load(None, &env) {
                prop_assert!(!err.place.is_empty());
            }
        }
    }
}

#[test]
fn llm_providers_are_a_list_tried_in_order_and_each_has_its_own_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let load = |text: &str, vars: &[(&str, &str)]| {
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path), &env(vars))
    };
    let two = "[[llm.providers]]\nname = \"a\"\nbase_url = \"http://127.0.0.1:1/v1\"\nmodel = \"m1\"\napi_key_env = \"A_KEY\"\n[[llm.providers]]\nbase_url = \"https://llm.example.org/v1/\"\nmodel = \"m2\"\ntimeout_secs = 5\n";
    let c = load(two, &[("A_KEY", "k"), ("LLM_API_KEY", "not-for-these")]).unwrap();
    let LlmSettings::OpenAi { providers, .. } = &c.llm else {
        panic!("{:?}", c.llm)
    };
    let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "provider-2"]);
    assert_eq!(providers[0].api_key.as_ref().map(|k| k.expose()), Some("k"));
    assert!(
        providers[1].api_key.is_none(),
        "LLM_API_KEY went to a listed provider"
    );
    assert_eq!(providers[1].timeout.as_secs(), 5);
    // The assistant purpose names every recipient, in order.
    assert!(
        c.purposes[0].text.contains(
            "the AI service at 127.0.0.1 (model m1), or when that one is busy, the AI service at \
             llm.example.org (model m2)"
        ),
        "{}",
        c.purposes[0].text
    );

    // The single [llm] endpoint is a list of one, named as before.
    let one = load(
        "",
        &[
            ("LLM_BASE_URL", "http://127.0.0.1:1/v1"),
            ("LLM_MODEL", "m"),
        ],
    )
    .unwrap();
    let LlmSettings::OpenAi { providers, .. } = &one.llm else {
        panic!()
    };
    assert_eq!(providers.len(), 1);
    assert_eq!(providers[0].name, "openai-compatible");

    let with_model = format!("[llm]\nmodel = \"m\"\n{two}");
    for (text, vars, place) in [
        (
            two,
            &[("LLM_BASE_URL", "http://127.0.0.1:2/v1")][..],
            "LLM_BASE_URL",
        ),
        ("[llm]\nproviders = []\n", &[][..], "llm.providers"),
        (
            "[[llm.providers]]\nname = \"x\"\nbase_url = \"http://a/v1\"\nmodel = \"m\"\n[[llm.providers]]\nname = \"x\"\nbase_url = \"http://b/v1\"\nmodel = \"m\"\n",
            &[][..],
            "llm.providers[1].name",
        ),
        (
            "[[llm.providers]]\nbase_url = \"ftp://a\"\nmodel = \"m\"\n",
            &[][..],
            "llm.providers[0].base_url",
        ),
        (
            "[[llm.providers]]\nbase_url = \"http://a/v1\"\nmodel = \"m\"\ntimeout_secs = 0\n",
            &[][..],
            "llm.providers[0].timeout_secs",
        ),
        // One recipient phrase for several providers would hide who receives messages.
        (two, &[("LLM_RECIPIENT", "Acme AI")][..], "LLM_RECIPIENT"),
        (two, &[("LLM_MODEL", "m")][..], "LLM_MODEL"),
        (with_model.as_str(), &[][..], "llm.model"),
    ] {
        let err = load(text, vars).unwrap_err().to_string();
        assert!(err.contains(place), "{place}: {err}");
    }
}

#[test]
fn a_transcription_service_adds_the_voice_purpose_and_is_checked() {
    let c = Config::load(None, &env(&[])).unwrap();
    assert!(c.transcription.is_none());
    assert!(c.purposes.iter().all(|p| p.name != "voice"));
    let c = Config::load(
        None,
        &env(&[
            ("TRANSCRIBE_BASE_URL", "http://127.0.0.1:8000/v1"),
            ("TRANSCRIBE_MODEL", "whisper-1"),
            ("TRANSCRIBE_API_KEY", "k"),
        ]),
    )
    .unwrap();
    let t = c.transcription.as_ref().unwrap();
    assert_eq!((t.max_seconds, t.max_bytes), (300, 20 * 1024 * 1024));
    assert_eq!(t.api_key.as_ref().map(|k| k.expose()), Some("k"));
    let voice = c.purposes.iter().find(|p| p.name == "voice").unwrap();
    assert!(!voice.required);
    assert!(
        voice
            .text
            .contains("the transcription service at 127.0.0.1 (model whisper-1)"),
        "{}",
        voice.text
    );
    let err = Config::load(
        None,
        &env(&[("TRANSCRIBE_BASE_URL", "http://127.0.0.1:8000/v1")]),
    )
    .unwrap_err();
    assert_eq!(err.place, "transcription.model");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    for (text, place) in [
        (
            "[transcription]\nbase_url = \"http://h/v1\"\nmodel = \"m\"\nmax_seconds = 0\n",
            "transcription.max_seconds",
        ),
        (
            "[transcription]\nbase_url = \"http://h/v1\"\nmodel = \"m\"\n[[purposes]]\nname = \"assistant\"\n[[purposes]]\nname = \"voice\"\nrequired = true\n",
            "purposes",
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        let err = Config::load(Some(&path), &env(&[])).unwrap_err();
        assert!(err.place.starts_with(place), "{text}: {err}");
    }
    // Declared by the file with a text of its own, it keeps it and names the service.
    std::fs::write(
        &path,
        "[transcription]\nbase_url = \"http://h/v1\"\nmodel = \"m\"\nrecipient = \"Acme Whisper (EU)\"\n[[purposes]]\nname = \"assistant\"\n[[purposes]]\nname = \"voice\"\ntitle = \"Voice\"\ntext = \"Audio goes to {transcriber}.\"\n",
    )
    .unwrap();
    let c = Config::load(Some(&path), &env(&[])).unwrap();
    let voice = c.purposes.iter().find(|p| p.name == "voice").unwrap();
    assert_eq!(voice.text, "Audio goes to Acme Whisper (EU).");
}

#[test]
fn allowances_and_plans_are_checked_with_their_place() {
    let c = Config::load(None, &env(&[])).unwrap();
    assert!(!c.allowance.limited());
    let c = Config::load(None, &env(&[("CONSENTGATE_REQUESTS_PER_DAY", "20")])).unwrap();
    assert_eq!(c.allowance.per_day, Some(20));
    let err = Config::load(None, &env(&[("CONSENTGATE_REQUESTS_PER_MONTH", "lots")])).unwrap_err();
    assert_eq!(err.place, "CONSENTGATE_REQUESTS_PER_MONTH");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let load = |text: &str| {
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path), &env(&[]))
    };
    let c = load("[allowance]\nrequests_per_month = 100\n[[plans]]\nname = \"plus\"\nstars = 50\nrequests = 200\n").unwrap();
    let plan = c.allowance.plan("plus").unwrap();
    assert_eq!(
        (plan.days, plan.title.as_str()),
        (30, "200 requests for 30 days")
    );
    for (text, place) in [
        (
            "[allowance]\nrequests_per_day = 0\n",
            "allowance.requests_per_day",
        ),
        (
            "[[plans]]\nname = \"plus\"\nstars = 50\nrequests = 200\n",
            "plans",
        ),
        (
            "[allowance]\nrequests_per_day = 5\n[[plans]]\nname = \"plus\"\nstars = 0\nrequests = 200\n",
            "plans[0].stars",
        ),
        (
            "[allowance]\nrequests_per_day = 5\n[[plans]]\nname = \"a\"\nstars = 1\nrequests = 1\n[[plans]]\nname = \"a\"\nstars = 1\nrequests = 1\n",
            "plans[1].name",
        ),
        (
            "[retention]\npayments_days = 30\n",
            "retention.payments_days",
        ),
    ] {
        let err = load(text).unwrap_err();
        assert!(err.place.starts_with(place), "{text}: {err}");
    }
}

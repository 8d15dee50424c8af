//! The gateway's keys: Fernet keys for what is stored encrypted, and HMAC keys for pseudonyms,
//! blind indexes and (later) the audit chain. None of these types prints its value.

use crate::config::env;
use std::{fmt, fs, io::Write, path::Path};

use base64::{
    Engine, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose},
};
use rand::RngCore;

/// A key could not be used; the message names the variable and says what is expected.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct KeyError {
    pub variable: &'static str,
    pub problem: String,
}

fn key_error(variable: &'static str, problem: impl Into<String>) -> KeyError {
    KeyError {
        variable,
        problem: problem.into(),
    }
}

const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `FERNET_KEYS`: the first key encrypts, every key decrypts (so old data stays readable while
/// keys rotate). Tokens are byte-compatible with Python's `cryptography.fernet`.
#[derive(Clone)]
pub struct FernetKeys {
    multi: fernet::MultiFernet,
    /// The first key, which encrypts.
    primary: fernet::Fernet,
    count: usize,
}

impl fmt::Debug for FernetKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FernetKeys({} keys, <secret>)", self.count)
    }
}

/// A value could not be decrypted with any configured key.
#[derive(Debug, thiserror::Error)]
#[error("stored value could not be decrypted with any key in FERNET_KEYS")]
pub struct DecryptError;

impl FernetKeys {
    /// Parses a comma-separated list. Keys are trimmed and must be URL-safe base64 of 32 bytes.
    pub fn parse(list: &str) -> Result<Self, KeyError> {
        const VAR: &str = env::FERNET_KEYS;
        let mut keys = Vec::new();
        for (i, raw) in list.split(',').enumerate() {
            let key = raw.trim();
            let n = i + 1;
            if key.is_empty() {
                return Err(key_error(VAR, format!("key {n} is empty")));
            }
            if key.contains(['+', '/']) {
                return Err(key_error(
                    VAR,
                    format!(
                        "key {n} is standard base64; Fernet keys are URL-safe base64 (- and _ instead of + and /)"
                    ),
                ));
            }
            let bytes = URL_SAFE_ANY_PADDING
                .decode(key)
                .map_err(|_| key_error(VAR, format!("key {n} is not URL-safe base64")))?;
            if bytes.len() != 32 {
                return Err(key_error(
                    VAR,
                    format!(
                        "key {n} decodes to {} bytes; a Fernet key is 32 bytes (run `consentgate keys generate`)",
                        bytes.len()
                    ),
                ));
            }
            let fernet = fernet::Fernet::new(key)
                .ok_or_else(|| key_error(VAR, format!("key {n} was rejected")))?;
            keys.push(fernet);
        }
        let count = keys.len();
        let primary = keys
            .first()
            .cloned()
            .ok_or_else(|| key_error(VAR, "no key given".to_string()))?;
        Ok(FernetKeys {
            multi: fernet::MultiFernet::new(keys),
            primary,
            count,
        })
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        self.multi.encrypt(plaintext)
    }

    /// Whether a token was made with the first key (so `keys rotate` can leave it alone).
    pub fn is_current(&self, token: &str) -> bool {
        self.primary.decrypt(token).is_ok()
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Decrypts a token we stored. The TTL path of fernet 0.2.2 is deliberately not used: it can
    /// overflow on crafted tokens before the MAC is checked.
    pub fn decrypt(&self, token: &str) -> Result<Vec<u8>, DecryptError> {
        self.multi.decrypt(token).map_err(|_| DecryptError)
    }
}

/// A key for HMAC-SHA256 (`PSEUDONYM_KEY`, `AUDIT_KEY`): base64, at least 32 bytes.
#[derive(Clone)]
pub struct HmacKey(Vec<u8>);

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey(<secret>)")
    }
}

impl HmacKey {
    pub fn parse(variable: &'static str, value: &str) -> Result<Self, KeyError> {
        let value = value.trim();
        let bytes = URL_SAFE_ANY_PADDING
            .decode(value)
            .or_else(|_| STANDARD_ANY_PADDING.decode(value))
            .map_err(|_| key_error(variable, "not valid base64"))?;
        if bytes.len() < 32 {
            return Err(key_error(
                variable,
                format!(
                    "decodes to {} bytes; at least 32 are needed (run `consentgate keys generate`)",
                    bytes.len()
                ),
            ));
        }
        Ok(HmacKey(bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Everything secret the gateway needs to run.
#[derive(Clone, Debug)]
pub struct Keys {
    pub fernet: FernetKeys,
    pub pseudonym: HmacKey,
    pub audit: HmacKey,
}

/// Fresh keys in the form the environment variables take.
pub struct GeneratedKeys {
    pub fernet: String,
    pub pseudonym: String,
    pub audit: String,
}

fn random_b64(engine: &GeneralPurpose) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    engine.encode(bytes)
}

impl GeneratedKeys {
    pub fn new() -> Self {
        GeneratedKeys {
            fernet: random_b64(&general_purpose::URL_SAFE),
            pseudonym: random_b64(&general_purpose::STANDARD),
            audit: random_b64(&general_purpose::STANDARD),
        }
    }

    /// `NAME=value` lines, as printed by `consentgate keys generate` and kept in the dev file.
    pub fn env_lines(&self) -> String {
        format!(
            "FERNET_KEYS={}\nPSEUDONYM_KEY={}\nAUDIT_KEY={}\n",
            self.fernet, self.pseudonym, self.audit
        )
    }
}

impl Default for GeneratedKeys {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads `NAME=value` lines of a dev secrets file.
pub fn read_env_file(path: &Path) -> std::io::Result<Vec<(String, String)>> {
    let text = fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

/// Appends lines to the dev secrets file, creating it readable by the owner only.
pub fn append_env_file(path: &Path, lines: &str) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(lines.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse() {
        let g = GeneratedKeys::new();
        let keys = FernetKeys::parse(&g.fernet).unwrap();
        let token = keys.encrypt(b"12345");
        assert_eq!(keys.decrypt(&token).unwrap(), b"12345");
        HmacKey::parse("PSEUDONYM_KEY", &g.pseudonym).unwrap();
    }

    #[test]
    fn first_key_encrypts_and_all_decrypt() {
        let old = GeneratedKeys::new().fernet;
        let new = GeneratedKeys::new().fernet;
        let token = FernetKeys::parse(&old).unwrap().encrypt(b"x");
        let both = FernetKeys::parse(&format!(" {new} ,\n{old}\n")).unwrap();
        assert_eq!(both.decrypt(&token).unwrap(), b"x");
        let fresh = both.encrypt(b"y");
        assert!(FernetKeys::parse(&old).unwrap().decrypt(&fresh).is_err());
    }

    #[test]
    fn bad_fernet_keys_name_the_variable_and_the_problem() {
        let err = FernetKeys::parse("abc").unwrap_err();
        assert!(err.to_string().starts_with("FERNET_KEYS: key 1"));
        let err = FernetKeys::parse("a+b/cdefghijklmnopqrstuvwxyz0123456789abcdef=").unwrap_err();
        assert!(err.to_string().contains("URL-safe"));
        let g = GeneratedKeys::new().fernet;
        let err = FernetKeys::parse(&format!("{g},")).unwrap_err();
        assert!(err.to_string().contains("key 2 is empty"));
    }

    #[test]
    fn spec_verify_vector_decrypts() {
        // From the Fernet spec's verify.json.
        let keys = FernetKeys::parse("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=").unwrap();
        let token = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==";
        assert_eq!(keys.decrypt(token).unwrap(), b"hello");
    }

    #[test]
    fn short_hmac_key_is_refused() {
        let err = HmacKey::parse("AUDIT_KEY", "c2hvcnQ=").unwrap_err();
        assert!(err.to_string().starts_with("AUDIT_KEY: decodes to 5 bytes"));
    }

    #[test]
    fn debug_never_prints_key_material() {
        let g = GeneratedKeys::new();
        let keys = Keys {
            fernet: FernetKeys::parse(&g.fernet).unwrap(),
            pseudonym: HmacKey::parse("PSEUDONYM_KEY", &g.pseudonym).unwrap(),
            audit: HmacKey::parse("AUDIT_KEY", &g.audit).unwrap(),
        };
        let printed = format!("{keys:?}");
        assert!(!printed.contains(&g.fernet) && !printed.contains(&g.pseudonym));
    }
}

/// How the keys were obtained, for the start-up log.
#[derive(Debug, PartialEq, Eq)]
pub enum KeySource {
    /// All three came from the environment or the secrets file.
    Provided,
    /// Some were generated now (dev mode) and written to the secrets file.
    Generated(Vec<&'static str>),
}

impl Keys {
    /// Reads `FERNET_KEYS`, `PSEUDONYM_KEY` and `AUDIT_KEY` from the environment, falling back to
    /// the dev secrets file. In `dev` mode missing keys are generated once into that file (0600);
    /// in `production` mode a missing key is an error naming it.
    pub fn load(
        mode: crate::config::Mode,
        secrets_file: &Path,
        env: &dyn crate::config::Env,
    ) -> Result<(Keys, KeySource), KeyError> {
        Self::load_inner(mode, secrets_file, env, mode == crate::config::Mode::Dev)
    }

    /// Like [`Keys::load`] but never generates: for commands that must use the keys the data was
    /// written with (verifying the audit chain, reading stored data).
    pub fn load_existing(
        mode: crate::config::Mode,
        secrets_file: &Path,
        env: &dyn crate::config::Env,
    ) -> Result<Keys, KeyError> {
        Self::load_inner(mode, secrets_file, env, false).map(|(keys, _)| keys)
    }

    fn load_inner(
        mode: crate::config::Mode,
        secrets_file: &Path,
        env: &dyn crate::config::Env,
        generate: bool,
    ) -> Result<(Keys, KeySource), KeyError> {
        const NAMES: [&str; 3] = ["FERNET_KEYS", "PSEUDONYM_KEY", "AUDIT_KEY"];
        let stored: Vec<(String, String)> = if mode == crate::config::Mode::Dev {
            match super::files::owner_only(secrets_file) {
                Ok(Some(was)) => tracing::warn!(
                    file = %secrets_file.display(),
                    was = format!("{was:o}"),
                    "the secrets file was readable by others; it is owner-only now"
                ),
                Ok(None) => {}
                Err(e) => {
                    return Err(key_error(
                        "secrets file",
                        format!("cannot make {} owner-only: {e}", secrets_file.display()),
                    ));
                }
            }
            match read_env_file(secrets_file) {
                Ok(v) => v,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => {
                    return Err(key_error(
                        "secrets file",
                        format!("cannot read {}: {e}", secrets_file.display()),
                    ));
                }
            }
        } else {
            Vec::new()
        };
        let lookup = |name: &str| {
            env.get(name).or_else(|| {
                stored
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
        };
        let mut values: Vec<Option<String>> = NAMES.iter().map(|n| lookup(n)).collect();
        let missing: Vec<&'static str> = NAMES
            .iter()
            .zip(&values)
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| *n)
            .collect();
        // Check what was supplied before writing anything, so a bad key leaves no file behind.
        for (name, value) in NAMES.iter().zip(&values) {
            if let Some(value) = value {
                if *name == "FERNET_KEYS" {
                    FernetKeys::parse(value)?;
                } else {
                    HmacKey::parse(name, value)?;
                }
            }
        }
        let source = if missing.is_empty() {
            KeySource::Provided
        } else if !generate {
            let why = if mode == crate::config::Mode::Production {
                "production mode never generates secrets"
            } else {
                "this command uses the keys the data was written with"
            };
            return Err(key_error(
                missing[0],
                format!(
                    "not set, and {why}; set {} (generate them with `consentgate keys generate`)",
                    missing.join(", ")
                ),
            ));
        } else {
            let fresh = GeneratedKeys::new();
            let mut lines = String::from(
                "# Generated by ConsentGate in dev mode. Keep this file; losing it makes stored data unreadable.\n",
            );
            for (i, name) in NAMES.iter().enumerate() {
                if values[i].is_none() {
                    let v = match i {
                        0 => fresh.fernet.clone(),
                        1 => fresh.pseudonym.clone(),
                        _ => fresh.audit.clone(),
                    };
                    lines.push_str(&format!("{name}={v}\n"));
                    values[i] = Some(v);
                }
            }
            append_env_file(secrets_file, &lines).map_err(|e| {
                key_error(
                    "secrets file",
                    format!("cannot write {}: {e}", secrets_file.display()),
                )
            })?;
            KeySource::Generated(missing)
        };
        let [fernet, pseudonym, audit] = [0, 1, 2].map(|i| values[i].take().unwrap_or_default());
        Ok((
            Keys {
                fernet: FernetKeys::parse(&fernet)?,
                pseudonym: HmacKey::parse("PSEUDONYM_KEY", &pseudonym)?,
                audit: HmacKey::parse("AUDIT_KEY", &audit)?,
            },
            source,
        ))
    }
}

#[cfg(test)]
mod load_tests {
    use super::*;
    use crate::config::Mode;
    use std::collections::HashMap;

    #[test]
    fn dev_mode_generates_once_into_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("consentgate.secrets");
        let env: HashMap<String, String> = HashMap::new();
        let (first, source) = Keys::load(Mode::Dev, &file, &env).unwrap();
        assert_eq!(
            source,
            KeySource::Generated(vec!["FERNET_KEYS", "PSEUDONYM_KEY", "AUDIT_KEY"])
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let token = first.fernet.encrypt(b"42");
        let (second, source) = Keys::load(Mode::Dev, &file, &env).unwrap();
        assert_eq!(source, KeySource::Provided);
        assert_eq!(second.fernet.decrypt(&token).unwrap(), b"42");
        assert_eq!(first.pseudonym.bytes(), second.pseudonym.bytes());
    }

    #[test]
    fn a_bad_supplied_key_leaves_no_secrets_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("consentgate.secrets");
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("FERNET_KEYS".into(), "bad".into());
        let err = Keys::load(Mode::Dev, &file, &env).unwrap_err();
        assert!(err.to_string().starts_with("FERNET_KEYS"), "{err}");
        assert!(!file.exists());
    }

    #[test]
    fn production_mode_refuses_to_start_without_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("consentgate.secrets");
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("FERNET_KEYS".into(), GeneratedKeys::new().fernet);
        let err = Keys::load(Mode::Production, &file, &env).unwrap_err();
        assert!(err.to_string().starts_with("PSEUDONYM_KEY"), "{err}");
        assert!(!file.exists());
    }
}

/// The Fernet specification's vectors and tokens made by Python's `cryptography.fernet`
/// (`tests/fixtures/fernet/`, regenerated by `tests/data/make_fernet_tokens.py`).
#[cfg(test)]
mod fernet_compatibility {
    use super::*;
    use serde_json::Value;

    fn fixture(name: &str) -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/fernet")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn decode(token: &str) -> Vec<u8> {
        URL_SAFE_ANY_PADDING.decode(token).unwrap()
    }

    #[test]
    fn spec_generate_vector_decrypts_and_our_tokens_have_its_layout() {
        for v in fixture("generate.json").as_array().unwrap() {
            let keys = FernetKeys::parse(v["secret"].as_str().unwrap()).unwrap();
            let token = v["token"].as_str().unwrap();
            assert_eq!(
                keys.decrypt(token).unwrap(),
                v["src"].as_str().unwrap().as_bytes()
            );
            // Version 0x80, the timestamp of `now`, then the IV, exactly as specified.
            let bytes = decode(token);
            let now = chrono::DateTime::parse_from_rfc3339(v["now"].as_str().unwrap()).unwrap();
            assert_eq!(bytes[0], 0x80);
            assert_eq!(
                u64::from_be_bytes(bytes[1..9].try_into().unwrap()),
                now.timestamp() as u64
            );
            let iv: Vec<u8> = v["iv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_u64().unwrap() as u8)
                .collect();
            assert_eq!(&bytes[9..25], iv.as_slice());
            // What we write has the same layout: version, a current timestamp, a fresh IV.
            let ours = decode(&keys.encrypt(b"hello"));
            assert_eq!(ours[0], 0x80);
            assert_eq!(ours.len(), bytes.len());
            let ts = u64::from_be_bytes(ours[1..9].try_into().unwrap());
            assert!(ts.abs_diff(chrono::Utc::now().timestamp() as u64) < 60);
            assert_ne!(&ours[9..25], iv.as_slice());
        }
    }

    #[test]
    fn spec_verify_vectors_decrypt() {
        for v in fixture("verify.json").as_array().unwrap() {
            let keys = FernetKeys::parse(v["secret"].as_str().unwrap()).unwrap();
            assert_eq!(
                keys.decrypt(v["token"].as_str().unwrap()).unwrap(),
                v["src"].as_str().unwrap().as_bytes()
            );
        }
    }

    #[test]
    fn spec_invalid_vectors_are_refused() {
        for v in fixture("invalid.json").as_array().unwrap() {
            let desc = v["desc"].as_str().unwrap();
            // Stored values have no TTL (they must stay readable for as long as they are kept),
            // so the two vectors that are only invalid under a TTL or a clock do not apply.
            if desc.contains("TTL") || desc.contains("far-future") {
                continue;
            }
            let keys = FernetKeys::parse(v["secret"].as_str().unwrap()).unwrap();
            assert!(
                keys.decrypt(v["token"].as_str().unwrap()).is_err(),
                "{desc}"
            );
        }
    }

    #[test]
    fn tokens_made_by_python_cryptography_decrypt() {
        let f = fixture("python_tokens.json");
        let key = f["key"].as_str().unwrap();
        // The Python key listed second: rotation leaves old tokens readable.
        let keys = FernetKeys::parse(&format!("{},{key}", GeneratedKeys::new().fernet)).unwrap();
        for t in f["tokens"].as_array().unwrap() {
            let token = t["token"].as_str().unwrap();
            assert_eq!(
                keys.decrypt(token).unwrap(),
                t["plaintext"].as_str().unwrap().as_bytes()
            );
            assert!(!keys.is_current(token));
        }
        let only_python = FernetKeys::parse(key).unwrap();
        assert!(only_python.is_current(f["tokens"][0]["token"].as_str().unwrap()));
    }
}

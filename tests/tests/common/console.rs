//! The console over plain HTTP, for tests that sign in: a client without a cookie jar, and an
//! admin or auditor key signed in with its second factor.

use consentgate::web::{
    admin::{self, Role},
    console::totp,
};
use reqwest::{StatusCode, header};

use super::Harness;

/// A browser without a cookie jar or redirects: each request says what it sends.
pub struct Client {
    http: reqwest::Client,
    pub base: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub location: Option<String>,
    pub cookies: Vec<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap().to_string())
    }
    pub fn set_cookie(&self, name: &str) -> String {
        self.cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .cloned()
            .unwrap_or_default()
    }
    /// The value of the first hidden field `name` in the page.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let at = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} in {}", self.body))
            + marker.len();
        self.body[at..].split('"').next().unwrap().to_string()
    }
}

impl Client {
    pub fn new(h: &Harness) -> Client {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: h.base.clone(),
        }
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let r = req.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        Reply {
            status,
            location: headers
                .get(header::LOCATION)
                .map(|l| l.to_str().unwrap().to_string()),
            cookies: headers
                .get_all(header::SET_COOKIE)
                .iter()
                .map(|c| c.to_str().unwrap().to_string())
                .collect(),
            headers,
            body: r.text().await.unwrap(),
        }
    }

    pub async fn get(&self, path: &str, cookie: &str) -> Reply {
        self.send(
            self.http
                .get(format!("{}{path}", self.base))
                .header(header::COOKIE, cookie),
        )
        .await
    }

    pub async fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> Reply {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header(header::COOKIE, cookie)
                .form(form),
        )
        .await
    }

    /// A form with a file, as a browser sends `enctype="multipart/form-data"`.
    pub async fn upload(
        &self,
        path: &str,
        cookie: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, Vec<u8>),
    ) -> Reply {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        let (name, mime, bytes) = file;
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name.to_string())
                .mime_str(mime)
                .unwrap(),
        );
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header(header::COOKIE, cookie)
                .multipart(form),
        )
        .await
    }

    /// The admin key step: the session cookie half-way through signing in.
    pub async fn key_step(&self, key: &str) -> String {
        let page = self.get("/console/login", "").await;
        assert_eq!(page.status, StatusCode::OK);
        let login = page.cookie("cg_login").unwrap();
        let token = page.field("login");
        let r = self
            .post("/console/login", &login, &[("key", key), ("login", &token)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location.as_deref(), Some("/console/login/second"));
        r.cookie("cg_console").unwrap()
    }
}

/// The secret shown on the enrolment page.
pub fn secret_on(page: &str) -> Vec<u8> {
    let at =
        page.find("Secret: <code class=\"mono\">").unwrap() + "Secret: <code class=\"mono\">".len();
    let b32 = page[at..].split('<').next().unwrap();
    data_encoding::BASE32_NOPAD.decode(b32.as_bytes()).unwrap()
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An admin key signed in (enrolled on the way): the session cookie and its CSRF token.
pub async fn admin_session(h: &Harness, c: &Client) -> (String, String) {
    key_session(h, c, Role::Admin).await
}

/// A key of `role` signed in (enrolled on the way): the session cookie and its CSRF token.
pub async fn key_session(h: &Harness, c: &Client, role: Role) -> (String, String) {
    let key = admin::create_key(h.db(), role, "privacy desk")
        .await
        .unwrap();
    let half = c.key_step(&key).await;
    let enrol = c.get("/console/login/second", &half).await;
    let secret = secret_on(&enrol.body);
    let code = totp::code_at(&secret, totp::step_at(now()));
    let done = c
        .post(
            "/console/login/enrol",
            &half,
            &[("code", &code), ("csrf", &enrol.field("csrf"))],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let cookie = done.cookie("cg_console").unwrap();
    let csrf = c.get("/console/", &cookie).await.field("csrf");
    (cookie, csrf)
}

//! Fake services behind owners' tools: the Google Sheets API v4 (`values.get` and
//! `values.append`) and HubSpot's CRM v3 (contact search and create, notes). Each records every
//! request with its bearer token.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

/// One request a fake service received.
#[derive(Clone, Debug)]
pub struct ServiceRequest {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub body: Value,
    pub authorization: Option<String>,
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[derive(Default)]
struct SheetsInner {
    /// (spreadsheet, range or sheet) → rows.
    ranges: HashMap<(String, String), Vec<Vec<String>>>,
    requests: Vec<ServiceRequest>,
    /// Answer every request this late (a slow service).
    delay: Duration,
}

/// The Sheets API; clones share state.
#[derive(Clone)]
pub struct FakeSheets {
    /// As `TOOLS_SHEETS_URL` takes it.
    pub url: String,
    inner: Arc<Mutex<SheetsInner>>,
}

impl FakeSheets {
    pub async fn start() -> FakeSheets {
        let inner = Arc::new(Mutex::new(SheetsInner::default()));
        let app = Router::new()
            .route(
                "/v4/spreadsheets/{id}/values/{range}",
                get(sheets_get).post(sheets_append),
            )
            .with_state(inner.clone());
        FakeSheets {
            url: serve(app).await,
            inner,
        }
    }

    /// What `range` of `spreadsheet` holds.
    pub fn put(&self, spreadsheet: &str, range: &str, rows: &[&[&str]]) {
        self.inner.lock().unwrap().ranges.insert(
            (spreadsheet.to_string(), range.to_string()),
            rows.iter()
                .map(|r| r.iter().map(|c| c.to_string()).collect())
                .collect(),
        );
    }

    pub fn rows(&self, spreadsheet: &str, range: &str) -> Vec<Vec<String>> {
        self.inner
            .lock()
            .unwrap()
            .ranges
            .get(&(spreadsheet.to_string(), range.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    pub fn requests(&self) -> Vec<ServiceRequest> {
        self.inner.lock().unwrap().requests.clone()
    }

    pub fn set_delay(&self, delay: Duration) {
        self.inner.lock().unwrap().delay = delay;
    }
}

fn record(
    inner: &Mutex<SheetsInner>,
    method: &str,
    path: String,
    query: HashMap<String, String>,
    body: Value,
    headers: &HeaderMap,
) -> Duration {
    let mut inner = inner.lock().unwrap();
    inner.requests.push(ServiceRequest {
        method: method.into(),
        path,
        query,
        body,
        authorization: bearer(headers),
    });
    inner.delay
}

async fn sheets_get(
    State(inner): State<Arc<Mutex<SheetsInner>>>,
    Path((id, range)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let delay = record(
        &inner,
        "GET",
        format!("/v4/spreadsheets/{id}/values/{range}"),
        query,
        Value::Null,
        &headers,
    );
    tokio::time::sleep(delay).await;
    let rows = inner
        .lock()
        .unwrap()
        .ranges
        .get(&(id, range.clone()))
        .cloned();
    match rows {
        Some(rows) => {
            Json(json!({"range": range, "majorDimension": "ROWS", "values": rows})).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"code": 404, "message": "Requested entity was not found."}})),
        )
            .into_response(),
    }
}

async fn sheets_append(
    State(inner): State<Arc<Mutex<SheetsInner>>>,
    Path((id, range)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let delay = record(
        &inner,
        "POST",
        format!("/v4/spreadsheets/{id}/values/{range}"),
        query,
        body.clone(),
        &headers,
    );
    tokio::time::sleep(delay).await;
    let Some(range) = range.strip_suffix(":append") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let new: Vec<Vec<String>> = body["values"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            r.as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|c| c.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .collect();
    let mut inner = inner.lock().unwrap();
    let rows = inner
        .ranges
        .entry((id.clone(), range.to_string()))
        .or_default();
    rows.extend(new);
    let n = rows.len();
    Json(json!({
        "spreadsheetId": id,
        "updates": {"updatedRange": format!("{range}!A{n}:Z{n}"), "updatedRows": 1},
    }))
    .into_response()
}

#[derive(Default)]
struct HubSpotInner {
    /// Contacts: id → properties.
    contacts: Vec<(String, Value)>,
    /// Notes: (contact id, body).
    notes: Vec<(String, String)>,
    requests: Vec<ServiceRequest>,
}

/// HubSpot's CRM; clones share state.
#[derive(Clone)]
pub struct FakeHubSpot {
    /// As `TOOLS_HUBSPOT_URL` takes it.
    pub url: String,
    inner: Arc<Mutex<HubSpotInner>>,
}

impl FakeHubSpot {
    pub async fn start() -> FakeHubSpot {
        let inner = Arc::new(Mutex::new(HubSpotInner::default()));
        let app = Router::new()
            .route("/crm/v3/objects/contacts/search", post(hubspot_search))
            .route("/crm/v3/objects/contacts", post(hubspot_create))
            .route("/crm/v3/objects/notes", post(hubspot_note))
            .with_state(inner.clone());
        FakeHubSpot {
            url: serve(app).await,
            inner,
        }
    }

    pub fn contacts(&self) -> Vec<(String, Value)> {
        self.inner.lock().unwrap().contacts.clone()
    }

    pub fn notes(&self) -> Vec<(String, String)> {
        self.inner.lock().unwrap().notes.clone()
    }

    pub fn requests(&self) -> Vec<ServiceRequest> {
        self.inner.lock().unwrap().requests.clone()
    }
}

fn hubspot_record(inner: &mut HubSpotInner, path: &str, body: &Value, headers: &HeaderMap) {
    inner.requests.push(ServiceRequest {
        method: "POST".into(),
        path: path.into(),
        query: HashMap::new(),
        body: body.clone(),
        authorization: bearer(headers),
    });
}

async fn hubspot_search(
    State(inner): State<Arc<Mutex<HubSpotInner>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    hubspot_record(
        &mut inner,
        "/crm/v3/objects/contacts/search",
        &body,
        &headers,
    );
    // Filter groups are ORed, filters in a group ANDed; only EQ is spoken here.
    let groups = body["filterGroups"].as_array().cloned().unwrap_or_default();
    let found: Vec<Value> = inner
        .contacts
        .iter()
        .filter(|(_, props)| {
            groups.iter().any(|g| {
                g["filters"].as_array().is_some_and(|fs| {
                    fs.iter().all(|f| {
                        props[f["propertyName"].as_str().unwrap_or_default()] == f["value"]
                    })
                })
            })
        })
        .map(|(id, props)| json!({"id": id, "properties": props}))
        .collect();
    Json(json!({"total": found.len(), "results": found})).into_response()
}

async fn hubspot_create(
    State(inner): State<Arc<Mutex<HubSpotInner>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    hubspot_record(&mut inner, "/crm/v3/objects/contacts", &body, &headers);
    let id = format!("{}", 501 + inner.contacts.len());
    inner
        .contacts
        .push((id.clone(), body["properties"].clone()));
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "properties": body["properties"]})),
    )
        .into_response()
}

async fn hubspot_note(
    State(inner): State<Arc<Mutex<HubSpotInner>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    hubspot_record(&mut inner, "/crm/v3/objects/notes", &body, &headers);
    let contact = body["associations"][0]["to"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !inner.contacts.iter().any(|(id, _)| *id == contact) {
        return (StatusCode::BAD_REQUEST, "no such contact").into_response();
    }
    let text = body["properties"]["hs_note_body"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    inner.notes.push((contact, text));
    let id = format!("9{}", inner.notes.len());
    (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
}

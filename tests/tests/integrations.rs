//! Business owners link accounts from the chat: invites and /claim, the whole OAuth dance with
//! PKCE against a fake provider on loopback, refused states, /links and /unlink, refresh and
//! broken links, and the admin API that sees and revokes every integration.

mod common;

use chrono::{Duration, Utc};
use common::{owners::*, *};
use consentgate::web::admin::{self, Role};
use consentgate_e2e::FakeOAuth;
use consentgate_entity::{admin_keys, audit_log, consent_events, integrations, oauth_states};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::Value;

/// /link, Continue and the browser's round trip, the browser being someone else's: the account
/// linked is theirs. Returns the owner's question.
async fn link_from_another_browser(
    h: &Harness,
    owner: &mut Owner<'_>,
    oauth: &FakeOAuth,
) -> String {
    owner.say("/link google", 1).await;
    owner.press("Continue to Google", 1).await;
    let authorize = link_button(h, IVAN.id);
    oauth.set_account("intruder@example.net");
    let callback = approve_in_browser(&authorize).await;
    let page = h.http.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    owner.wait(1).await.remove(0)
}

#[tokio::test]
async fn an_account_linked_from_someone_elses_browser_is_not_used_until_the_owner_confirms() {
    let (h, oauth) = start().await;
    let i = service(&h).await;
    let mut owner = claimed_owner(&h, &i).await;
    let asked = link_from_another_browser(&h, &mut owner, &oauth).await;
    // The owner sees whose account it is.
    assert!(asked.contains("intruder@example.net"), "{asked}");
    let links = i.list(&Default::default()).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].status.as_str(), "pending");
    // Not refreshed while pending.
    let (refreshed, _) = i.refresh_due(Utc::now() + Duration::days(1)).await.unwrap();
    assert_eq!(refreshed, 0);
    // Someone else pressing the owner's button changes nothing.
    let data = button_data(&h, IVAN.id, "Yes, use it");
    h.telegram.push_update(text_update(900, MARYAM, "hello"));
    h.wait_sent(MARYAM.id, 1).await;
    h.telegram.push_update(button_update(901, MARYAM, &data));
    h.wait_sent(MARYAM.id, 2).await;
    owner.next = 1000;
    assert_eq!(
        i.list(&Default::default()).await.unwrap()[0]
            .status
            .as_str(),
        "pending"
    );
    // The owner discards it: revoked here and at the provider.
    let told = owner.press("No, discard it", 1).await;
    assert!(told[0].contains("Discarded"), "{told:?}");
    let links = i.list(&Default::default()).await.unwrap();
    assert_eq!(links[0].status.as_str(), "revoked");
    assert_eq!(oauth.revocations().len(), 1);
    // The question cannot be answered again.
    let again = owner.press("Yes, use it", 1).await;
    assert!(again[0].contains("no longer open"), "{again:?}");
    assert_eq!(
        i.list(&Default::default()).await.unwrap()[0]
            .status
            .as_str(),
        "revoked"
    );

    // One left unanswered is revoked after an hour.
    oauth.set_account("owner@example.com");
    link_from_another_browser(&h, &mut owner, &oauth).await;
    assert_eq!(i.expire_pending(Utc::now()).await.unwrap(), 0);
    assert_eq!(
        i.expire_pending(Utc::now() + Duration::minutes(61))
            .await
            .unwrap(),
        1
    );
    assert!(
        i.list(&Default::default())
            .await
            .unwrap()
            .iter()
            .all(|l| l.status.as_str() == "revoked")
    );
    h.finish().await;
}

#[tokio::test]
async fn an_owner_links_lists_refreshes_and_unlinks_an_account() {
    let (h, oauth) = start().await;
    let i = service(&h).await;
    let mut owner = Owner {
        h: &h,
        next: 0,
        seen: 0,
    };
    // Not an owner yet: politely refused.
    let refused = owner.say("/link google", 1).await;
    assert!(refused[0].contains("Only the owners"), "{refused:?}");
    let code = i
        .invite(telegram_bot_id(&h).await, Utc::now())
        .await
        .unwrap();
    assert!(
        !h.dump().await.contains(&code),
        "invite codes are stored hashed"
    );
    let claimed = owner.say(&format!("/claim {code}"), 1).await;
    assert!(claimed[0].contains("You are now an owner"), "{claimed:?}");
    let again = owner.say(&format!("/claim {code}"), 1).await;
    assert!(again[0].contains("not valid"), "{again:?}");

    let callback = link_google(&h, &mut owner).await;
    // The token endpoint got the PKCE verifier and checked it against the challenge.
    let exchange = &oauth.token_requests()[0];
    assert_eq!(exchange["grant_type"], "authorization_code");
    assert_eq!(exchange["code_verifier"].len(), 43);
    // Stored encrypted, with the approval in the consent record.
    let dump = h.dump().await;
    let links = integrations::Entity::find().all(h.db()).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].status, "active");
    let raw_rows = format!("{links:?}");
    assert!(!raw_rows.contains("at-secret") && !raw_rows.contains("rt-secret"));
    assert!(!dump.contains("at-secret"));
    let approvals = consent_events::Entity::find()
        .filter(consent_events::Column::Purpose.eq("integration:google"))
        .all(h.db())
        .await
        .unwrap();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].action, "given");

    // A replayed state is refused and nothing more is stored.
    let replay = h.http.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(replay.text().await.unwrap().contains("already used"));
    assert_eq!(
        integrations::Entity::find()
            .all(h.db())
            .await
            .unwrap()
            .len(),
        1
    );

    // /links: provider, status, scopes in words. No token.
    let listed = owner.say("/links", 1).await;
    assert!(listed[0].contains("google — active"), "{listed:?}");
    assert!(listed[0].contains("Google Sheets"));
    assert!(!listed[0].contains("secret"));

    // Refresh before expiry; then the provider forgets the refresh token: broken, owner told.
    let (refreshed, broken) = i
        .refresh_due(Utc::now() + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!((refreshed, broken), (1, 0));
    assert_eq!(
        oauth.token_requests().last().unwrap()["grant_type"],
        "refresh_token"
    );
    oauth.forget_refresh_tokens();
    let (refreshed, broken) = i
        .refresh_due(Utc::now() + Duration::hours(4))
        .await
        .unwrap();
    assert_eq!((refreshed, broken), (0, 1));
    let told = owner.wait(1).await;
    assert!(told[0].contains("stopped working"), "{told:?}");
    let listed = owner.say("/links", 1).await;
    assert!(listed[0].contains("broken"), "{listed:?}");

    // Linking again replaces the broken link; /unlink revokes at the provider (RFC 7009).
    link_google(&h, &mut owner).await;
    let unlinked = owner.say("/unlink google", 1).await;
    assert!(
        unlinked[0].contains("the provider cancelled the access"),
        "{unlinked:?}"
    );
    let revocation = oauth.revocations().last().unwrap().clone();
    assert!(revocation["token"].starts_with("rt-secret-"));
    assert_eq!(revocation["token_type_hint"], "refresh_token");
    let rows = integrations::Entity::find().all(h.db()).await.unwrap();
    assert!(rows.iter().all(|r| r.status == "revoked"));
    assert!(
        rows.iter()
            .all(|r| r.access_token_enc.is_none() && r.refresh_token_enc.is_none())
    );
    let listed = owner.say("/links", 1).await;
    assert!(listed[0].contains("no linked accounts"), "{listed:?}");

    // If the provider cannot be reached, the tokens are deleted here all the same.
    link_google(&h, &mut owner).await;
    oauth.set_revoke_fails(true);
    let unlinked = owner.say("/unlink google", 1).await;
    assert!(unlinked[0].contains("could not be reached"), "{unlinked:?}");
    let rows = integrations::Entity::find().all(h.db()).await.unwrap();
    assert!(
        rows.iter()
            .all(|r| r.status == "revoked" && r.access_token_enc.is_none())
    );
    h.finish().await;
}

#[tokio::test]
async fn bad_expired_and_foreign_states_are_refused_and_store_nothing() {
    let (h, _oauth) = start().await;
    let i = service(&h).await;
    let mut owner = claimed_owner(&h, &i).await;
    owner.say("/link google", 1).await;
    owner.press("Continue to Google", 1).await;
    let state = state_in(&link_button(&h, IVAN.id));
    assert!(!h.dump().await.contains(&state), "states are stored hashed");
    let get = |path: String| {
        let http = h.http.clone();
        async move {
            let r = http.get(path).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    // Made up.
    let (status, body) = get(format!(
        "{}/oauth/google/callback?code=x&state={}",
        h.base,
        "A".repeat(43)
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not valid"), "{body}");
    // Another provider's callback with this state.
    let (status, body) = get(format!(
        "{}/oauth/zoho/callback?code=x&state={state}",
        h.base
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("another provider"), "{body}");
    // Refused at the provider, with markup in the error: a clear page that never echoes markup.
    let (status, body) = get(format!(
        "{}/oauth/google/callback?error=%3Cscript%3Eaccess_denied&state={state}",
        h.base
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("approval was not given"), "{body}");
    assert!(!body.contains("<script>"), "{body}");
    // The state is used up now.
    let (_, body) = get(format!(
        "{}/oauth/google/callback?code=x&state={state}",
        h.base
    ))
    .await;
    assert!(body.contains("already used"), "{body}");
    // Expired.
    owner.say("/link google", 1).await;
    owner.press("Continue to Google", 1).await;
    let state = state_in(&link_button(&h, IVAN.id));
    use sea_orm::QueryOrder;
    let mut row = oauth_states::Entity::find()
        .order_by_desc(oauth_states::Column::Id)
        .one(h.db())
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    row.expires_at = Set(Utc::now() - Duration::minutes(1));
    row.update(h.db()).await.unwrap();
    let (status, body) = get(format!(
        "{}/oauth/google/callback?code=x&state={state}",
        h.base
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("expired"), "{body}");
    // Owner commands are not taken in groups, where an approval link could be used by anyone.
    let mut update = text_update(9_000, IVAN, "/link google");
    update["message"]["chat"] =
        serde_json::json!({"id": -100_777, "type": "supergroup", "title": "Team"});
    h.telegram.push_update(update);
    let group = h.wait_sent(-100_777, 1).await;
    assert!(group[0].contains("only in a private chat"), "{group:?}");
    assert!(
        integrations::Entity::find()
            .all(h.db())
            .await
            .unwrap()
            .is_empty()
    );
    h.finish().await;
}

#[tokio::test]
async fn admins_see_and_revoke_every_integration_and_auditors_only_read() {
    let (h, oauth) = start().await;
    let i = service(&h).await;
    let mut owner = claimed_owner(&h, &i).await;
    link_google(&h, &mut owner).await;

    let admin_key = admin::create_key(h.db(), Role::Admin, "ops").await.unwrap();
    let auditor_key = admin::create_key(h.db(), Role::Auditor, "dpo")
        .await
        .unwrap();
    let stored = format!(
        "{:?}",
        admin_keys::Entity::find().all(h.db()).await.unwrap()
    );
    assert!(!stored.contains(&admin_key) && !stored.contains(&auditor_key));

    let api = |path: &str| format!("{}/admin/api{path}", h.base);
    let no_key = h.http.get(api("/integrations")).send().await.unwrap();
    assert_eq!(no_key.status(), StatusCode::UNAUTHORIZED);
    let wrong = h
        .http
        .get(api("/integrations"))
        .bearer_auth("cgk_not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let listed = h
        .http
        .get(api(
            "/integrations?bot=telegram&provider=google&status=active",
        ))
        .bearer_auth(&auditor_key)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let text = listed.text().await.unwrap();
    assert!(!text.contains("secret"), "{text}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    let link = &listed["integrations"][0];
    let id = link["id"].as_i64().unwrap();
    assert_eq!(
        link["owner"],
        h.expected_pseudonym("telegram", &IVAN.id.to_string())
    );
    let owner_prefix = link["owner"].as_str().unwrap()[..10].to_string();
    let filtered: Value = h
        .http
        .get(api(&format!("/integrations?owner={owner_prefix}")))
        .bearer_auth(&auditor_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["integrations"].as_array().unwrap().len(), 1);

    // An owner filter must be a pseudonym: no wildcards, no empty string.
    for bad in ["", "%25", "abc"] {
        let r = h
            .http
            .get(api(&format!("/integrations?owner={bad}")))
            .bearer_auth(&auditor_key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = h
        .http
        .post(api("/integrations/revoke"))
        .bearer_auth(&admin_key)
        .json(&serde_json::json!({"owner": "%"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // The auditor may not revoke.
    let forbidden = h
        .http
        .post(api(&format!("/integrations/{id}/revoke")))
        .bearer_auth(&auditor_key)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        integrations::Entity::find_by_id(id)
            .one(h.db())
            .await
            .unwrap()
            .unwrap()
            .status,
        "active"
    );

    // The admin revokes: the provider is told, the owner is told, the audit log says so.
    let before = oauth.revocations().len();
    let revoked = h
        .http
        .post(api(&format!("/integrations/{id}/revoke")))
        .bearer_auth(&admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let body: Value = revoked.json().await.unwrap();
    assert_eq!(body["revoked"][0]["remote"], "revoked");
    assert_eq!(oauth.revocations().len(), before + 1);
    let told = owner.wait(1).await;
    assert!(told[0].contains("revoked (admin)"), "{told:?}");
    let actions: Vec<String> = audit_log::Entity::find()
        .all(h.db())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert!(actions.contains(&"admin.revoke".to_string()));
    assert!(actions.contains(&"integration.revoked".to_string()));
    assert!(actions.contains(&"admin.read".to_string()));

    // Revoke-all needs a provider or an owner.
    let all = h
        .http
        .post(api("/integrations/revoke"))
        .bearer_auth(&admin_key)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(all.status(), StatusCode::BAD_REQUEST);
    link_google(&h, &mut owner).await;
    let all: Value = h
        .http
        .post(api("/integrations/revoke"))
        .bearer_auth(&admin_key)
        .json(&serde_json::json!({"provider": "google"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["revoked"].as_array().unwrap().len(), 1);

    // Consent counts and the audit chain's status, for auditors.
    let stats: Value = h
        .http
        .get(api("/consent/stats"))
        .bearer_auth(&auditor_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stats["latest_decisions"]["telegram"]["integration:google"]["given"],
        1
    );
    let status: Value = h
        .http
        .get(api("/audit/status"))
        .bearer_auth(&auditor_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["ok"], true, "{status}");
    // Asked again at once: the same check answers (the chain is walked at most once a minute).
    let again: Value = h
        .http
        .get(api("/audit/status"))
        .bearer_auth(&auditor_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["checked_at"], status["checked_at"], "{again}");
    assert!(status["checked_at"].is_string(), "{status}");
    // A revoked key stops working at once.
    let auditor_id = admin::list_keys(h.db()).await.unwrap()[1]["id"]
        .as_i64()
        .unwrap();
    assert!(admin::revoke_key(h.db(), auditor_id).await.unwrap());
    let r = h
        .http
        .get(api("/audit/status"))
        .bearer_auth(&auditor_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    h.finish().await;
}

/// A refresh whose answer arrives after the owner's /unlink must not put tokens back: the link
/// stays revoked with no tokens, and the tokens the provider issued meanwhile are cancelled.
#[tokio::test]
async fn a_refresh_racing_an_unlink_never_brings_the_tokens_back() {
    let (h, oauth) = start().await;
    let i = service(&h).await;
    let mut owner = claimed_owner(&h, &i).await;
    link_google(&h, &mut owner).await;
    oauth.set_refresh_delay(std::time::Duration::from_secs(2));
    let refresh = i.refresh_due(Utc::now() + Duration::hours(2));
    let unlink = async {
        // The refresh has reached the provider and waits for its answer.
        let asked = consentgate_e2e::wait_for(std::time::Duration::from_secs(10), || async {
            oauth
                .token_requests()
                .iter()
                .any(|r| r["grant_type"] == "refresh_token")
                .then_some(())
        })
        .await;
        assert!(asked.is_some(), "the refresh never reached the provider");
        owner.say("/unlink google", 1).await
    };
    let (refreshed, unlinked) = tokio::join!(refresh, unlink);
    assert!(unlinked[0].contains("unlinked"), "{unlinked:?}");
    assert_eq!(refreshed.unwrap(), (0, 0));
    let rows = integrations::Entity::find().all(h.db()).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "revoked");
    assert!(rows[0].access_token_enc.is_none() && rows[0].refresh_token_enc.is_none());
    // The access token issued by the refresh that lost was cancelled at the provider.
    assert!(
        oauth
            .revocations()
            .iter()
            .any(|r| r["token"].starts_with("at-secret-") && r["token_type_hint"] == "access_token"),
        "{:?}",
        oauth.revocations()
    );
    h.finish().await;
}

/// A stranger flooding the admin API and the OAuth callback from one address uses up that
/// address's allowance only: an admin elsewhere is still answered.
#[tokio::test]
async fn a_flood_from_one_address_locks_out_no_one_else() {
    let (h, _oauth) = start().await;
    let admin_key = admin::create_key(h.db(), Role::Admin, "ops").await.unwrap();
    // Another loopback address: 127.0.0.2 is this machine too.
    let stranger = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let mut limited = (false, false);
    for _ in 0..100 {
        let admin = stranger
            .get(format!("{}/admin/api/consent/stats", h.base))
            .bearer_auth("cgk_not-a-key")
            .send()
            .await
            .unwrap()
            .status();
        let callback = stranger
            .get(format!("{}/oauth/google/callback?state=x&code=y", h.base))
            .send()
            .await
            .unwrap()
            .status();
        limited.0 |= admin == StatusCode::TOO_MANY_REQUESTS;
        limited.1 |= callback == StatusCode::TOO_MANY_REQUESTS;
        if limited == (true, true) {
            break;
        }
    }
    assert_eq!(limited, (true, true), "the flood was never limited");
    let admin = h
        .http
        .get(format!("{}/admin/api/consent/stats", h.base))
        .bearer_auth(&admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::OK);
    let callback = h
        .http
        .get(format!("{}/oauth/google/callback?state=x&code=y", h.base))
        .send()
        .await
        .unwrap();
    assert_ne!(callback.status(), StatusCode::TOO_MANY_REQUESTS);
    h.finish().await;
}

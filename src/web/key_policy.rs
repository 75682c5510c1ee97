//! Settings → Key Policy (admins only).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::db::key_policies;
use crate::domain::{GracePeriod, KeyPolicy, PolicyPreset, ValidationError};
use crate::service::keys::KeyError;
use crate::service::policy;
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::Form;
use crate::web::respond::render;
use crate::web::shell::{Area, Shell};
use crate::web::state::AppState;

/// A preset as offered.
pub struct PresetView {
    /// Form value.
    pub value: &'static str,
    /// Name.
    pub label: &'static str,
    /// What it does.
    pub description: &'static str,
    /// The current settings match it.
    pub current: bool,
}

/// A grace option.
pub struct GraceOption {
    /// Form value.
    pub value: &'static str,
    /// Label.
    pub label: &'static str,
    /// Chosen.
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "settings/key_policy.html")]
struct KeyPolicyPage {
    shell: Shell,
    flash: Option<String>,
    error: Option<String>,
    presets: Vec<PresetView>,
    graces: Vec<GraceOption>,
    max_active_keys: String,
    name_required: bool,
    revoke_only_disabled: bool,
    delete_only_inactive: bool,
    scopes_editable: bool,
    max_lifetime_days: String,
    test_keys_revealable: bool,
}

fn page_for(user: &CurrentUser, policy: &KeyPolicy, error: Option<String>) -> KeyPolicyPage {
    KeyPolicyPage {
        shell: Shell::new(user, Area::KeyPolicy),
        flash: user.session.take_flash(),
        error,
        presets: PolicyPreset::ALL
            .into_iter()
            .map(|preset| PresetView {
                value: preset.as_str(),
                label: preset.label(),
                description: preset.description(),
                current: policy.preset() == Some(preset),
            })
            .collect(),
        graces: GracePeriod::ALL
            .into_iter()
            .map(|grace| GraceOption {
                value: grace.as_str(),
                label: grace.label(),
                selected: grace == policy.default_grace,
            })
            .collect(),
        max_active_keys: policy.max_active_keys.to_string(),
        name_required: policy.name_required,
        revoke_only_disabled: policy.revoke_only_disabled,
        delete_only_inactive: policy.delete_only_inactive,
        scopes_editable: policy.scopes_editable,
        max_lifetime_days: policy
            .max_lifetime_days
            .map(|days| days.to_string())
            .unwrap_or_default(),
        test_keys_revealable: policy.test_keys_revealable,
    }
}

/// `GET /settings/key-policy`.
pub async fn page(user: CurrentUser, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let merchant_id = user.admin()?.merchant_id.clone();
    let policy = state
        .db
        .run(move |conn| key_policies::get(conn, &merchant_id))
        .await?;
    render(StatusCode::OK, &page_for(&user, &policy, None))
}

fn number(raw: &str, field: &'static str) -> Result<Option<u32>, ValidationError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse().map(Some).map_err(|_| ValidationError::Invalid {
        field,
        reason: "it must be a whole number",
    })
}

/// The Key Policy form as sent: a preset button, or the individual settings (a
/// checkbox is present when ticked).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct PolicyForm {
    preset: String,
    max_active_keys: String,
    default_grace: String,
    name_required: Option<String>,
    revoke_only_disabled: Option<String>,
    delete_only_inactive: Option<String>,
    scopes_editable: Option<String>,
    max_lifetime_days: String,
    test_keys_revealable: Option<String>,
}

impl TryFrom<&PolicyForm> for KeyPolicy {
    type Error = ValidationError;

    fn try_from(form: &PolicyForm) -> Result<Self, ValidationError> {
        if !form.preset.is_empty() {
            return Ok(PolicyPreset::parse(&form.preset)?.policy());
        }
        KeyPolicy {
            max_active_keys: number(&form.max_active_keys, "Maximum active keys")?.ok_or(
                ValidationError::Empty {
                    field: "Maximum active keys",
                },
            )?,
            default_grace: GracePeriod::parse(&form.default_grace)?,
            name_required: form.name_required.is_some(),
            revoke_only_disabled: form.revoke_only_disabled.is_some(),
            delete_only_inactive: form.delete_only_inactive.is_some(),
            scopes_editable: form.scopes_editable.is_some(),
            max_lifetime_days: number(&form.max_lifetime_days, "Maximum key lifetime")?,
            test_keys_revealable: form.test_keys_revealable.is_some(),
        }
        .validate()
    }
}

/// `POST /settings/key-policy`: applies a preset or saves the settings; existing keys
/// are left as they are.
pub async fn save(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    Form(form): Form<PolicyForm>,
) -> Result<HttpResponse, WebError> {
    let merchant_id = user.admin()?.merchant_id.clone();
    let policy = match KeyPolicy::try_from(&form) {
        Ok(policy) => policy,
        Err(err) => {
            let current = {
                let merchant_id = merchant_id.clone();
                state
                    .db
                    .run(move |conn| key_policies::get(conn, &merchant_id))
                    .await?
            };
            let message = err.to_string();
            return render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page_for(&user, &current, Some(message)),
            );
        }
    };
    let (actor, now) = (user.actor(&req), state.clock.now());
    state
        .db
        .run(move |conn| policy::set_policy(conn, &merchant_id, &policy, &actor, now))
        .await
        .map_err(|err| match err {
            KeyError::Db(err) => WebError::from(err),
            KeyError::NotPermitted => WebError::Forbidden,
            other => WebError::Unexpected(other.into()),
        })?;
    let label = policy.preset().map_or("Custom", |preset| preset.label());
    user.session.set_flash(&format!(
        "Key policy saved ({label}). It applies to the next action; existing keys are unchanged."
    ));
    Ok(crate::web::respond::see_other(crate::web::paths::KEY_POLICY))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const CORPUS: &str = include_str!("../../tests/corpus/inputs.txt");
    const FIELDS: [&str; 9] = [
        "preset",
        "max_active_keys",
        "default_grace",
        "name_required",
        "revoke_only_disabled",
        "delete_only_inactive",
        "scopes_editable",
        "max_lifetime_days",
        "test_keys_revealable",
    ];

    /// Whatever the form holds, the policy read from it is one the page could save.
    fn check(fields: Vec<(String, String)>) {
        let body = serde_urlencoded::to_string(&fields).unwrap();
        // A field sent twice is refused before any policy is read.
        let Ok(form) = serde_html_form::from_str::<PolicyForm>(&body) else {
            return;
        };
        if let Ok(policy) = KeyPolicy::try_from(&form) {
            assert_eq!(policy.validate(), Ok(policy));
            assert!(
                policy
                    .max_lifetime_days
                    .is_none_or(|days| (1..=3650).contains(&days))
            );
        }
    }

    #[test]
    fn every_corpus_value_in_every_field_gives_a_valid_policy_or_an_error() {
        for raw in CORPUS.lines().filter(|line| !line.starts_with('#')) {
            let raw = raw.replace("\\0", "\0");
            for field in FIELDS {
                let mut fields: Vec<(String, String)> = vec![
                    ("max_active_keys".into(), "5".into()),
                    ("default_grace".into(), "3d".into()),
                ];
                fields.push((field.to_owned(), raw.clone()));
                check(fields);
            }
        }
    }

    proptest! {
        #[test]
        fn any_policy_form_gives_a_valid_policy_or_an_error(
            fields in prop::collection::vec(
                (prop::sample::select(FIELDS.to_vec()), prop_oneof![any::<String>(), "[0-9 +-]{0,12}", "(now|1h|24h|3d|7d|standard|flexible|single-key)"]),
                0..12,
            ),
        ) {
            check(fields.into_iter().map(|(name, value)| (name.to_owned(), value)).collect());
        }
    }
}

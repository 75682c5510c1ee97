//! What a key offers is exactly what its transaction lets through: for generated key
//! histories, policies and roles, each action [`allowed_actions`] offers succeeds and
//! each it withholds is refused, for the same reason, by the change itself.

use keyward::db::keys::{self, KeyRow};
use keyward::db::{DbConnection, DbError, memberships, write_transaction};
use keyward::domain::{
    Actor, ActorKind, AllowedActions, GracePeriod, KeyPepper, KeyPolicy, KeySurroundings, Refusal, Role,
    allowed_actions,
};
use keyward::service::keys::{EditRequest, GenerateRequest, KeyError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use time::{Duration, PrimitiveDateTime};

use crate::db_test;
use crate::support::{Backend, spawn_app, test_secret};

/// One step of a merchant's history: a new key, or an action on one of the keys; then
/// time passing.
#[derive(Debug, Clone)]
struct Step {
    key: Option<usize>,
    action: Action,
    then: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Rotate(GracePeriod),
    Revoke,
    Disable,
    Enable,
    Edit,
    Renew,
    Delete,
    Duplicate,
}

const ACTIONS: [Action; 8] = [
    Action::Rotate(GracePeriod::OneHour),
    Action::Revoke,
    Action::Disable,
    Action::Enable,
    Action::Edit,
    Action::Renew,
    Action::Delete,
    Action::Duplicate,
];

#[derive(Debug, Clone)]
struct Case {
    policy: KeyPolicy,
    lifetimes: Vec<Option<u32>>,
    steps: Vec<Step>,
    role: Role,
}

fn policy() -> impl Strategy<Value = KeyPolicy> {
    (1u32..=3, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(max_active_keys, revoke_only_disabled, delete_only_inactive, scopes_editable)| KeyPolicy {
            max_active_keys,
            revoke_only_disabled,
            delete_only_inactive,
            scopes_editable,
            ..KeyPolicy::default()
        },
    )
}

fn step() -> impl Strategy<Value = Step> {
    let action = prop_oneof![
        Just(Action::Rotate(GracePeriod::Now)),
        Just(Action::Rotate(GracePeriod::OneHour)),
        Just(Action::Revoke),
        Just(Action::Disable),
        Just(Action::Enable),
        Just(Action::Renew),
        Just(Action::Delete),
    ];
    let then = prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::minutes(30)),
        Just(Duration::hours(2)),
        Just(Duration::days(31)),
    ];
    (prop::option::weighted(0.8, 0usize..3), action, then).prop_map(|(key, action, then)| Step {
        key,
        action,
        then,
    })
}

fn case() -> impl Strategy<Value = Case> {
    (
        policy(),
        prop::collection::vec(prop_oneof![Just(None), Just(Some(30u32))], 1..=3),
        prop::collection::vec(step(), 0..8),
        prop_oneof![Just(Role::Admin), Just(Role::Developer), Just(Role::Viewer)],
    )
        .prop_map(|(policy, lifetimes, steps, role)| Case {
            policy,
            lifetimes,
            steps,
            role,
        })
}

/// Runs `action` on `row` as `actor`; the outcome as the rule that refused it, if any.
fn attempt(
    conn: &mut DbConnection,
    row: &KeyRow,
    action: Action,
    actor: &Actor,
    pepper: &KeyPepper,
    now: PrimitiveDateTime,
) -> Result<(), KeyError> {
    let (merchant, id) = (&row.merchant_id, &row.id);
    match action {
        Action::Rotate(grace) => {
            let command = keyward::service::keys::Rotate {
                key_id: id,
                grace,
                request_id: None,
            };
            keyward::service::keys::rotate(conn, merchant, &command, actor, pepper, now).map(drop)
        }
        Action::Revoke => keyward::service::keys::revoke(conn, merchant, id, "REVOKE", actor, now).map(drop),
        Action::Disable => keyward::service::keys::disable(conn, merchant, id, actor, now).map(drop),
        Action::Enable => keyward::service::keys::enable(conn, merchant, id, actor, now).map(drop),
        Action::Renew => keyward::service::keys::renew(conn, merchant, id, actor, now).map(drop),
        Action::Delete => keyward::service::keys::delete(conn, merchant, id, true, actor, now),
        Action::Duplicate => {
            let request = GenerateRequest {
                name: format!("Copy of {id}"),
                duplicated_from: Some(id.to_owned()),
                ..GenerateRequest::default()
            };
            keyward::service::keys::generate(conn, merchant, &request, actor, pepper, now).map(drop)
        }
        Action::Edit => {
            let request = EditRequest {
                name: Some(row.name.clone()),
                description: Some(row.description.clone()),
                scopes: Some(row.scopes.names().into_iter().map(str::to_owned).collect()),
                ..EditRequest::default()
            };
            keyward::service::keys::edit(conn, merchant, id, &request, actor, now).map(drop)
        }
    }
}

/// What the transaction said, in the terms [`AllowedActions`] uses.
fn as_refusal(outcome: Result<(), KeyError>) -> Result<(), Refusal> {
    match outcome {
        Ok(()) => Ok(()),
        Err(KeyError::Refused(refusal)) => Err(refusal),
        Err(KeyError::NotPermitted) => Err(Refusal::NotPermitted),
        Err(other) => panic!("an action failed for a reason no rule gives: {other}"),
    }
}

fn offered(allowed: &AllowedActions, action: Action) -> &Result<(), Refusal> {
    match action {
        Action::Rotate(_) => &allowed.rotate,
        Action::Revoke => &allowed.revoke,
        Action::Disable => &allowed.disable,
        Action::Enable => &allowed.enable,
        Action::Edit => &allowed.edit,
        Action::Renew => &allowed.renew,
        Action::Delete => &allowed.delete,
        Action::Duplicate => &allowed.duplicate,
    }
}

/// The outcome of `work`, with everything it wrote rolled back.
fn rolled_back<T>(conn: &mut DbConnection, work: impl FnOnce(&mut DbConnection) -> T) -> T {
    enum Undo<T> {
        Done(T),
        Db(DbError),
    }
    impl<T> From<DbError> for Undo<T> {
        fn from(err: DbError) -> Self {
            Undo::Db(err)
        }
    }
    match write_transaction(conn, |conn| Err::<(), _>(Undo::Done(work(conn)))) {
        Err(Undo::Done(outcome)) => outcome,
        Err(Undo::Db(err)) => panic!("the database failed: {err}"),
        Ok(()) => unreachable!("the work always rolls back"),
    }
}

async fn every_action_is_offered_exactly_when_its_transaction_would_let_it_through(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let demo = app.demo_merchant_id();
    let people: Vec<(Role, Actor)> = [Role::Admin, Role::Developer, Role::Viewer]
        .into_iter()
        .map(|role| {
            let email = format!("{role}@actions.example");
            let id = app.create_member(&email, "a long enough password 1", &demo, role);
            let actor = Actor {
                kind: ActorKind::User,
                id: Some(id),
                name: role.label().to_owned(),
                address: None,
                user_agent: None,
                detail: None,
            };
            (role, actor)
        })
        .collect();
    let pepper = keyward::startup::key_pepper(&test_secret());
    let start = app.clock.now();
    let merchants = std::cell::Cell::new(0);

    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case(), |case| {
            merchants.set(merchants.get() + 1);
            let merchant = app.create_merchant(&format!("Merchant {}", merchants.get()));
            let mut conn = app.db.get().unwrap();
            let conn: &mut DbConnection = &mut conn;
            for (role, actor) in &people {
                memberships::add(conn, actor.id.as_deref().unwrap(), &merchant, *role, start).unwrap();
            }
            let admin = &people[0].1;
            keyward::service::policy::set_policy(conn, &merchant, &case.policy, admin, start).unwrap();
            let mut now = start;
            let mut lineages = Vec::new();
            let generate =
                |conn: &mut DbConnection, lineages: &mut Vec<String>, lifetime: Option<u32>, now| {
                    let request = GenerateRequest {
                        name: format!("Key {}", lineages.len() + 1),
                        expires: lifetime.map_or_else(|| "never".to_owned(), |days| days.to_string()),
                        ..GenerateRequest::default()
                    };
                    if let Ok(generated) =
                        keyward::service::keys::generate(conn, &merchant, &request, admin, &pepper, now)
                    {
                        lineages.push(generated.row.lineage_id.to_string());
                    }
                };
            for lifetime in &case.lifetimes {
                generate(conn, &mut lineages, *lifetime, now);
            }
            // The history: each step is tried on its lineage's newest version; refused
            // steps are part of the history too.
            for step in &case.steps {
                match step.key {
                    None => generate(conn, &mut lineages, None, now),
                    Some(key) => {
                        if let Some(lineage) = lineages.get(key % lineages.len().max(1)) {
                            let rows = keys::list(conn, &merchant).unwrap();
                            if let Some(row) = rows.iter().find(|row| &row.lineage_id == lineage) {
                                let _ = attempt(conn, row, step.action, admin, &pepper, now);
                            }
                        }
                    }
                }
                now += step.then;
            }

            let actor = &people.iter().find(|(role, _)| *role == case.role).unwrap().1;
            let rows = keys::list(conn, &merchant).unwrap();
            let active_keys =
                keys::count_active(conn, &merchant, keyward::domain::Environment::Live, now).unwrap();
            for row in &rows {
                let facts = row.facts();
                let lineage_in_grace = rows.iter().any(|other| {
                    other.lineage_id == row.lineage_id && other.id != row.id && other.facts().in_grace(now)
                });
                let allowed = allowed_actions(
                    &facts,
                    &KeySurroundings {
                        lineage_in_grace,
                        active_keys,
                        policy: &case.policy,
                        role: case.role,
                        now,
                    },
                );
                for action in ACTIONS {
                    let done = rolled_back(conn, |conn| {
                        as_refusal(attempt(conn, row, action, actor, &pepper, now))
                    });
                    prop_assert_eq!(
                        offered(&allowed, action),
                        &done,
                        "{:?} on a {:?} key ({:?})",
                        action,
                        facts.status,
                        row.name
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}

db_test!(every_action_is_offered_exactly_when_its_transaction_would_let_it_through);

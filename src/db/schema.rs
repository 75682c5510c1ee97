//! The tables, in types both SQLite and Postgres share: `Text` for UUIDs, `Timestamp`
//! in UTC.

diesel::table! {
    merchants (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        is_support -> Bool,
        disabled_at -> Nullable<Timestamp>,
        last_sign_in_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        password_change_required -> Bool,
    }
}

diesel::table! {
    memberships (user_id, merchant_id) {
        user_id -> Text,
        merchant_id -> Text,
        role -> Text,
        created_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        state -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        absolute_expires_at -> Timestamp,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Text,
        email -> Text,
        address -> Text,
        failed_at -> Timestamp,
    }
}

diesel::table! {
    sign_in_locks (id) {
        id -> Text,
        email -> Text,
        address -> Text,
        locked_at -> Timestamp,
        locked_until -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        merchant_id -> Text,
        lineage_id -> Text,
        version -> Integer,
        name -> Text,
        description -> Text,
        scopes -> Text,
        key_hash -> Text,
        masked_key -> Text,
        status -> Text,
        lifetime_days -> Nullable<Integer>,
        expires_at -> Nullable<Timestamp>,
        grace_ends_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
        disabled_at -> Nullable<Timestamp>,
        disabled_by -> Nullable<Text>,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
        deleted_at -> Nullable<Timestamp>,
        deleted_by -> Nullable<Text>,
        last_used_at -> Nullable<Timestamp>,
        request_id -> Nullable<Text>,
        last_used_from -> Nullable<Text>,
        rate_limit_per_minute -> Nullable<Integer>,
        grace_end_recorded -> Bool,
        expiry_recorded_for -> Nullable<Timestamp>,
        first_use_recorded -> Bool,
        seq -> BigInt,
        environment -> Text,
        allowed_ips -> Text,
        last_used_agent -> Nullable<Text>,
        sealed_secret -> Nullable<Text>,
    }
}

diesel::table! {
    key_requests (id) {
        id -> Text,
        merchant_id -> Text,
        key_id -> Nullable<Text>,
        presented_key -> Text,
        minute -> Timestamp,
        first_at -> Timestamp,
        last_at -> Timestamp,
        outcome -> Text,
        request_id -> Text,
        client_address -> Text,
        user_agent -> Text,
        method -> Text,
        path -> Text,
        detail -> Text,
        count -> BigInt,
    }
}

diesel::table! {
    key_usage_hourly (key_id, hour) {
        key_id -> Text,
        hour -> Timestamp,
        succeeded -> BigInt,
        failed -> BigInt,
    }
}

diesel::table! {
    key_refusals (key_id) {
        key_id -> Text,
        refused_at -> Timestamp,
        code -> Text,
    }
}

diesel::table! {
    key_events (id) {
        id -> Text,
        merchant_id -> Text,
        key_id -> Nullable<Text>,
        event_type -> Text,
        actor_type -> Text,
        actor_id -> Nullable<Text>,
        actor_name -> Text,
        details -> Text,
        client_address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        created_at -> Timestamp,
        actor_detail -> Nullable<Text>,
    }
}

diesel::table! {
    management_tokens (id) {
        id -> Text,
        merchant_id -> Text,
        name -> Text,
        scopes -> Text,
        token_hash -> Text,
        masked_token -> Text,
        created_at -> Timestamp,
        created_by -> Text,
        created_by_id -> Nullable<Text>,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        last_used_from -> Nullable<Text>,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (token_id, idempotency_key) {
        token_id -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        status_code -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        location -> Nullable<Text>,
        created_at -> Timestamp,
        attempted_at -> Timestamp,
    }
}

diesel::table! {
    key_policies (merchant_id) {
        merchant_id -> Text,
        max_active_keys -> Integer,
        default_grace -> Text,
        name_required -> Bool,
        revoke_only_disabled -> Bool,
        delete_only_inactive -> Bool,
        scopes_editable -> Bool,
        max_lifetime_days -> Nullable<Integer>,
        updated_at -> Timestamp,
        updated_by -> Text,
        test_keys_revealable -> Bool,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        merchant_id -> Text,
        email -> Text,
        role -> Text,
        invited_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        expiry_recorded -> Bool,
    }
}

diesel::table! {
    rate_limit_windows (scope, window_start) {
        scope -> Text,
        window_start -> BigInt,
        hits -> BigInt,
    }
}

diesel::table! {
    rate_limit_instances (instance_id) {
        instance_id -> Text,
        seen_at -> BigInt,
    }
}

diesel::joinable!(api_keys -> merchants (merchant_id));
diesel::joinable!(key_requests -> merchants (merchant_id));
diesel::joinable!(invitations -> merchants (merchant_id));
diesel::joinable!(management_tokens -> merchants (merchant_id));
diesel::joinable!(idempotency_keys -> management_tokens (token_id));
diesel::joinable!(key_events -> merchants (merchant_id));
diesel::joinable!(key_usage_hourly -> api_keys (key_id));
diesel::joinable!(key_refusals -> api_keys (key_id));
diesel::joinable!(key_policies -> merchants (merchant_id));
diesel::joinable!(memberships -> merchants (merchant_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    merchants,
    users,
    memberships,
    sessions,
    login_failures,
    sign_in_locks,
    api_keys,
    key_events,
    key_policies,
    key_usage_hourly,
    key_refusals,
    key_requests,
    invitations,
    management_tokens,
    idempotency_keys,
    rate_limit_windows,
    rate_limit_instances,
);

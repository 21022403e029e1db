//! One ACME order over `instant-acme` (RFC 8555): the account (restored from the state
//! directory, or registered and saved), a new order for the names, each HTTP-01 token put in the
//! challenge map for the CA to fetch and removed when the order ends, then finalisation with a
//! fresh P-256 key. Every step is bounded by [`ORDER_TIMEOUT`]; a failure names the step.

use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use weir_config::AcmeSettings;

use super::challenge::Challenges;
use super::store::StateDir;

/// The most one order may take, from the account to the certificate.
pub const ORDER_TIMEOUT: Duration = Duration::from_secs(120);

/// How long to poll for the CA's validation and for the certificate.
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(100))
    .backoff(1.5)
    .timeout(Duration::from_secs(60));

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("account: {0}")]
    Account(String),
    #[error("state directory: {0}")]
    Store(#[from] super::store::StoreError),
    #[error("{step}: {source}")]
    Acme {
        step: &'static str,
        source: instant_acme::Error,
    },
    #[error("{0}")]
    Refused(String),
    #[error("no answer within {ORDER_TIMEOUT:?}")]
    Timeout,
}

impl OrderError {
    /// The CA no longer knows the stored account (a test CA restarted, an account deleted):
    /// the account must be registered again.
    pub fn unknown_account(&self) -> bool {
        matches!(
            self,
            Self::Acme { source: instant_acme::Error::Api(problem), .. }
                if problem.r#type.as_deref()
                    == Some("urn:ietf:params:acme:error:accountDoesNotExist")
        )
    }
}

fn step(step: &'static str) -> impl FnOnce(instant_acme::Error) -> OrderError {
    move |source| OrderError::Acme { step, source }
}

/// The account on `settings.directory`: the stored one, or a new one that is then stored.
/// Bounded by [`ORDER_TIMEOUT`].
pub async fn account(settings: &AcmeSettings, store: &StateDir) -> Result<Account, OrderError> {
    tokio::time::timeout(ORDER_TIMEOUT, stored_or_new_account(settings, store))
        .await
        .unwrap_or(Err(OrderError::Timeout))
}

/// Forgets the stored account on `settings.directory` (the next order registers a new one).
pub fn forget_account(settings: &AcmeSettings, store: &StateDir) -> Result<(), OrderError> {
    let path = store.account_path(&settings.directory);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(OrderError::Store(super::store::StoreError { path, source })),
    }
}

async fn stored_or_new_account(
    settings: &AcmeSettings,
    store: &StateDir,
) -> Result<Account, OrderError> {
    let builder = || match &settings.ca_file {
        Some(ca) => Account::builder_with_root(ca)
            .map_err(|e| OrderError::Account(format!("ca_file {}: {e}", ca.display()))),
        None => Account::builder().map_err(|e| OrderError::Account(e.to_string())),
    };
    let path = store.account_path(&settings.directory);
    if let Some(bytes) = store.read(&path)? {
        let credentials: AccountCredentials = serde_json::from_slice(&bytes)
            .map_err(|e| OrderError::Account(format!("{}: {e}", path.display())))?;
        return builder()?
            .from_credentials(credentials)
            .await
            .map_err(step("restoring the account"));
    }
    let contact: Vec<&str> = settings.contact.iter().map(String::as_str).collect();
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            settings.directory.clone(),
            None,
        )
        .await
        .map_err(step("registering an account"))?;
    let bytes = serde_json::to_vec(&credentials)
        .map_err(|e| OrderError::Account(format!("cannot serialise the account: {e}")))?;
    store.write(&path, &bytes)?;
    tracing::info!(directory = %settings.directory, id = account.id(), "acme account registered");
    Ok(account)
}

/// Orders a certificate for `names`: the PEM of its private key followed by its chain.
pub async fn order(
    account: &Account,
    names: &[String],
    challenges: &Challenges,
) -> Result<String, OrderError> {
    let mut tokens = Tokens {
        challenges,
        tokens: Vec::new(),
    };
    match tokio::time::timeout(ORDER_TIMEOUT, run(account, names, &mut tokens)).await {
        Ok(result) => result,
        Err(_) => Err(OrderError::Timeout),
    }
}

async fn run(
    account: &Account,
    names: &[String],
    tokens: &mut Tokens<'_>,
) -> Result<String, OrderError> {
    let identifiers: Vec<Identifier> = names.iter().cloned().map(Identifier::Dns).collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(step("new order"))?;
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization = authorization.map_err(step("authorization"))?;
        match authorization.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(OrderError::Refused(format!(
                    "an authorization is {other:?}"
                )));
            }
        }
        let mut challenge = authorization
            .challenge(ChallengeType::Http01)
            .ok_or_else(|| OrderError::Refused("the CA offers no http-01 challenge".into()))?;
        let key_authorization = challenge.key_authorization().as_str().to_owned();
        tokens.add(challenge.token.clone(), key_authorization)?;
        challenge
            .set_ready()
            .await
            .map_err(step("challenge ready"))?;
    }
    let status = order
        .poll_ready(&POLL)
        .await
        .map_err(step("waiting for validation"))?;
    if status != OrderStatus::Ready {
        return Err(OrderError::Refused(format!(
            "the order is {status:?} after validation"
        )));
    }
    let key_pem = order.finalize().await.map_err(step("finalize"))?;
    let chain_pem = order
        .poll_certificate(&POLL)
        .await
        .map_err(step("certificate"))?;
    Ok(format!("{key_pem}{chain_pem}"))
}

/// The tokens one order put in the challenge map, removed when the order ends however it ends.
struct Tokens<'a> {
    challenges: &'a Challenges,
    tokens: Vec<String>,
}

impl Tokens<'_> {
    fn add(&mut self, token: String, key_authorization: String) -> Result<(), OrderError> {
        self.challenges
            .insert(token.clone(), key_authorization)
            .map_err(|e| OrderError::Refused(e.to_string()))?;
        self.tokens.push(token);
        Ok(())
    }
}

impl Drop for Tokens<'_> {
    fn drop(&mut self) {
        for token in &self.tokens {
            self.challenges.remove(token);
        }
    }
}

//! One connection to the database with the statements it has prepared: a
//! statement is parsed once per connection, not once per call, which
//! halves the round trips of every step.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use super::connection::{Target, connect, db_error};
use crate::store::StoreError;

/// Parameters of a statement.
pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The name of the database a connection string names (never the whole
/// string, which may hold a password), for messages.
pub fn database_of(url: &str) -> String {
    super::connection::parse_url(url)
        .ok()
        .and_then(|c| c.get_dbname().map(str::to_owned))
        .unwrap_or_default()
}

/// A connection and its prepared statements.
pub struct Session {
    client: Client,
    database: String,
    prepared: Mutex<HashMap<&'static str, Statement>>,
    /// Set when the server said it ends this connection (class 57P: an
    /// administrator's command, a crash, a shutdown): the error can arrive
    /// before the socket is seen closed, and the session is to be replaced
    /// all the same.
    lost: AtomicBool,
}

impl Session {
    /// Connects to `target`.
    pub async fn open(target: &Target) -> Result<Self, StoreError> {
        let database = database_of(&target.url);
        Ok(Self {
            client: connect(target).await?,
            database,
            prepared: Mutex::default(),
            lost: AtomicBool::new(false),
        })
    }

    /// Whether the connection is gone (the server went away, or failed
    /// over): the session is then replaced.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed() || self.lost.load(Ordering::Relaxed)
    }

    /// `e` as the store reports it, noting first whether it ends the
    /// connection.
    fn failed(&self, e: tokio_postgres::Error) -> StoreError {
        let ends = e.is_closed()
            || e.as_db_error()
                .is_some_and(|db| db.code().code().starts_with("57P"));
        if ends {
            self.lost.store(true, Ordering::Relaxed);
        }
        db_error(e)
    }

    async fn statement(&self, sql: &'static str) -> Result<Statement, StoreError> {
        let known = self
            .prepared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(sql)
            .cloned();
        if let Some(s) = known {
            return Ok(s);
        }
        let s = self.client.prepare(sql).await.map_err(|e| self.failed(e))?;
        self.prepared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(sql, s.clone());
        Ok(s)
    }

    /// The rows `sql` answers.
    pub async fn query(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, StoreError> {
        let s = self.statement(sql).await?;
        self.client
            .query(&s, params)
            .await
            .map_err(|e| self.failed(e))
    }

    /// The one row `sql` answers, if any.
    pub async fn opt(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Option<Row>, StoreError> {
        let s = self.statement(sql).await?;
        self.client
            .query_opt(&s, params)
            .await
            .map_err(|e| self.failed(e))
    }

    /// The one row `sql` answers.
    pub async fn one(&self, sql: &'static str, params: Params<'_>) -> Result<Row, StoreError> {
        let s = self.statement(sql).await?;
        self.client
            .query_one(&s, params)
            .await
            .map_err(|e| self.failed(e))
    }

    /// Runs `sql`; the number of rows it changed.
    pub async fn execute(&self, sql: &'static str, params: Params<'_>) -> Result<u64, StoreError> {
        let s = self.statement(sql).await?;
        self.client
            .execute(&s, params)
            .await
            .map_err(|e| self.failed(e))
    }

    /// Runs statements without parameters in one round trip.
    pub async fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| self.failed(e))
    }

    /// The database's name, for messages.
    pub fn database(&self) -> String {
        self.database.clone()
    }

    /// The client, for what needs it whole (migrations).
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

//! Sessions: [`session_state`], the one place where fastcausal's functions are registered, and
//! [`Engine`], a session with the warehouse and file paths resolvable by name and SQL that
//! understands metric expressions.

use std::collections::VecDeque;
use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use datafusion::dataframe::DataFrame;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{SessionConfig, SessionContext, SessionState};
use datafusion::logical_expr::registry::FunctionRegistry;
use datafusion::sql::parser::{DFParserBuilder, Statement};
use datafusion::sql::sqlparser::dialect::dialect_from_str;

use crate::catalog::FastcausalSchema;
use crate::error::{closest, user_message};
use crate::functions::aggregate_functions;
use crate::metric_sql::rewrite_statement_with;
use crate::sources::{SourceOptions, looks_like_path};
use crate::warehouse::Warehouse;
use futures::future::BoxFuture;

/// The default session configuration: information schema on (`SHOW TABLES`), all cores.
pub fn default_config() -> SessionConfig {
    SessionConfig::new().with_information_schema(true)
}

/// A DataFusion session state with every fastcausal function registered. Every front end (CLI,
/// Python, server) and every cluster executor builds its sessions here, so that a function
/// available in one is available in all.
pub fn session_state(config: SessionConfig) -> SessionState {
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(crate::first_rows::FirstRows))
        .build();
    crate::local_files::MappedFileStore::register(state.runtime_env());
    for f in aggregate_functions() {
        state.register_udaf(Arc::new(f)).expect("registering an aggregate function cannot fail");
    }
    state.register_udf(Arc::new(crate::functions::predict::udf())).expect("registering a function cannot fail");
    state.register_udf(Arc::new(crate::functions::hash_unit::udf())).expect("registering a function cannot fail");
    state
}

/// One statement of fastcausal's SQL: what DataFusion parses, or
/// `CREATE [OR REPLACE] MODEL name AS <query>` (see [`crate::models`]).
#[derive(Debug, Clone)]
pub enum Command {
    Sql(Statement),
    CreateModel { name: String, replace: bool, query: Statement },
}

/// A fastcausal session: [`session_state`] plus name resolution for the local warehouse and
/// file paths, and SQL with metric expressions.
#[derive(Clone)]
pub struct Engine {
    ctx: SessionContext,
    warehouse: Option<Warehouse>,
}

impl Engine {
    /// A session over `warehouse` (if any), reading files with `options`.
    pub fn new(warehouse: Option<Warehouse>, options: SourceOptions) -> Self {
        Self::with_config(warehouse, options, default_config())
    }

    /// As [`Engine::new`] with an explicit configuration.
    pub fn with_config(warehouse: Option<Warehouse>, options: SourceOptions, config: SessionConfig) -> Self {
        let state = session_state(config.clone());
        let ctx = SessionContext::new_with_state(state);
        let schema = FastcausalSchema::new(warehouse.clone(), options, session_state(config));
        let catalog = ctx.catalog("datafusion").expect("the default catalog exists");
        catalog.register_schema("public", Arc::new(schema)).expect("registering the default schema");
        Engine { ctx, warehouse }
    }

    /// A session with no warehouse.
    pub fn in_memory() -> Self {
        Self::new(None, SourceOptions::default())
    }

    /// The underlying DataFusion context.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The warehouse, if the session has one.
    pub fn warehouse(&self) -> Option<&Warehouse> {
        self.warehouse.as_ref()
    }

    /// Parses `sql` into statements (fastcausal's metric functions rewritten, `CREATE MODEL`
    /// recognised).
    pub fn parse(&self, sql: &str) -> Result<VecDeque<Command>> {
        let mut out = VecDeque::new();
        if !crate::models::mentions_create_model(sql) {
            for s in self.parse_raw(sql)? {
                out.push_back(Command::Sql(self.rewrite(s)?));
            }
            return Ok(out);
        }
        for piece in crate::models::split_statements(sql) {
            match crate::models::create_model_prefix(piece)? {
                Some((name, replace, query)) => {
                    let mut statements = self.parse_raw(query)?;
                    let (Some(query), true) = (statements.pop_front(), statements.is_empty()) else {
                        return Err(DataFusionError::Plan(format!(
                            "CREATE MODEL {name}: AS must be followed by one query"
                        )));
                    };
                    out.push_back(Command::CreateModel { name, replace, query: self.rewrite(query)? });
                }
                None => {
                    for s in self.parse_raw(piece)? {
                        out.push_back(Command::Sql(self.rewrite(s)?));
                    }
                }
            }
        }
        Ok(out)
    }

    fn rewrite(&self, mut statement: Statement) -> Result<Statement> {
        let load = |name: &str, version: Option<u32>| match &self.warehouse {
            Some(w) => w.load_model(name, version).map_err(|e| DataFusionError::Plan(format!("predict: {e}"))),
            None => Err(DataFusionError::Plan("predict: models live in a warehouse, and this session has none".into())),
        };
        rewrite_statement_with(&mut statement, Some(&load))?;
        Ok(statement)
    }

    /// Parses `sql` as it is, without the rewrite (for SQL the rewrite has already produced).
    pub(crate) fn parse_raw(&self, sql: &str) -> Result<VecDeque<Statement>> {
        let state = self.ctx.state();
        let options = state.config().options();
        let dialect = &options.sql_parser.dialect;
        let dialect = dialect_from_str(dialect)
            .ok_or_else(|| DataFusionError::Plan(format!("unsupported SQL dialect {dialect}")))?;
        DFParserBuilder::new(sql)
            .with_dialect(dialect.as_ref())
            .with_recursion_limit(options.sql_parser.recursion_limit.get())
            .build()?
            .parse_statements()
    }

    /// Plans and starts one parsed statement (DDL takes effect now, `CREATE MODEL` too; queries
    /// run when collected).
    pub fn execute(&self, command: Command) -> BoxFuture<'_, Result<DataFrame>> {
        Box::pin(async move {
            match command {
                Command::Sql(s) => self.execute_statement(s).await,
                Command::CreateModel { name, replace, query } => {
                    let Some(warehouse) = &self.warehouse else {
                        return Err(DataFusionError::Plan(
                            "CREATE MODEL: models live in a warehouse, and this session has none".into(),
                        ));
                    };
                    let batches = self.execute_statement(query).await?.collect().await?;
                    let doc = crate::models::document_from_batches(&batches)?;
                    let entry = warehouse
                        .save_model(&name, &doc, replace)
                        .map_err(|e| DataFusionError::Plan(format!("CREATE MODEL {name}: {e}")))?;
                    self.ctx.read_batch(crate::models::entry_batch(&entry, &doc))
                }
            }
        })
    }

    /// Plans and starts one parsed SQL statement. Statistics that need several passes over the
    /// data (logistic regression, HC2/HC3 errors) run their earlier passes here, before planning
    /// (see [`crate::multipass`]).
    pub fn execute_statement(&self, mut statement: Statement) -> BoxFuture<'_, Result<DataFrame>> {
        Box::pin(async move {
            crate::multipass::resolve(self, &mut statement).await?;
            let plan = self.ctx.state().statement_to_plan(statement).await?;
            self.ctx.execute_logical_plan(plan).await
        })
    }

    /// Runs every statement of `sql` in order and returns the result of each.
    pub fn sql_all<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Result<Vec<DataFrame>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for s in self.parse(sql)? {
                out.push(self.execute(s).await?);
            }
            Ok(out)
        })
    }

    /// The result of a single statement.
    pub fn sql<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Result<DataFrame>> {
        Box::pin(async move {
            let mut statements = self.parse(sql)?;
            if statements.len() != 1 {
                return Err(DataFusionError::Plan(format!("expected one SQL statement, found {}", statements.len())));
            }
            self.execute(statements.pop_front().expect("one statement")).await
        })
    }

    /// A one-line message for a person, with suggestions for unknown tables.
    pub fn error_message(&self, e: &DataFusionError) -> String {
        let msg = user_message(e);
        let Some(name) = unknown_table_name(&msg) else { return msg };
        if looks_like_path(&name) {
            return format!("no file matches '{name}'");
        }
        let names: Vec<String> = self
            .ctx
            .catalog("datafusion")
            .and_then(|c| c.schema("public"))
            .map(|s| s.table_names())
            .unwrap_or_default();
        let mut out = format!("unknown table '{name}'");
        if let Some(c) = closest(&name, names.iter().map(String::as_str)) {
            out.push_str(&format!(" (did you mean '{c}'?)"));
        } else if names.is_empty() {
            out.push_str("; there are no tables yet (fastcausal import FILE --table NAME, or fastcausal gen-data)");
        } else {
            out.push_str(&format!("; tables: {}", names.join(", ")));
        }
        out
    }
}

/// The name in DataFusion's "table 'datafusion.public.x' not found".
fn unknown_table_name(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("table '")?;
    let full = rest.strip_suffix("' not found")?;
    Some(full.strip_prefix("datafusion.public.").unwrap_or(full).to_string())
}

//! Name resolution: which table a name in SQL refers to.
//!
//! The default schema of every fastcausal session is a [`FastcausalSchema`], which looks a name
//! up in this order:
//!
//! 1. tables registered in the session (`CREATE TABLE`, `CREATE EXTERNAL TABLE`, `register_*`);
//! 2. tables of the local [`Warehouse`], by name;
//! 3. a file path, glob or directory (`FROM 'data/*.parquet'`), read by [`crate::sources`].

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::SessionState;

use crate::sources::{SourceOptions, looks_like_path, table_for_path};
use crate::warehouse::Warehouse;

/// The default schema: session tables, then warehouse tables, then file paths.
#[derive(Debug)]
pub struct FastcausalSchema {
    session_tables: MemorySchemaProvider,
    warehouse: Option<Warehouse>,
    options: SourceOptions,
    /// A session used only to infer file schemas (object stores, configuration).
    inference: SessionState,
}

impl FastcausalSchema {
    pub fn new(warehouse: Option<Warehouse>, options: SourceOptions, inference: SessionState) -> Self {
        FastcausalSchema { session_tables: MemorySchemaProvider::new(), warehouse, options, inference }
    }

    async fn warehouse_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(w) = &self.warehouse else { return Ok(None) };
        let Some(entry) = w.table(name).map_err(|e| DataFusionError::External(Box::new(e)))? else {
            return Ok(None);
        };
        let path = w.file_path(&entry);
        let path = std::path::absolute(&path).unwrap_or(path);
        let url = ListingTableUrl::parse(path.to_string_lossy())?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension("");
        let schema = options.infer_schema(&self.inference, &url).await?;
        let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(schema);
        Ok(Some(Arc::new(ListingTable::try_new(config)?)))
    }
}

#[async_trait]
impl SchemaProvider for FastcausalSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.session_tables.table_names();
        if let Some(w) = &self.warehouse
            && let Ok(tables) = w.tables()
        {
            names.extend(tables.into_keys());
        }
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.session_tables.table(name).await? {
            return Ok(Some(t));
        }
        if let Some(t) = self.warehouse_table(name).await? {
            return Ok(Some(t));
        }
        if looks_like_path(name) {
            return table_for_path(&self.inference, name, &self.options).await;
        }
        Ok(None)
    }

    fn register_table(&self, name: String, table: Arc<dyn TableProvider>) -> Result<Option<Arc<dyn TableProvider>>> {
        self.session_tables.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.session_tables.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.session_tables.table_exist(name)
            || self.warehouse.as_ref().is_some_and(|w| w.table(name).ok().flatten().is_some())
    }
}

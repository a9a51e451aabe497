//! The local warehouse: named tables as Parquet files in a directory, no server to run.
//!
//! ```text
//! .fastcausal/                 (or --warehouse DIR, or $FASTCAUSAL_WAREHOUSE)
//!   catalog.json               {"version":1,"tables":{"name":{"file":"tables/name-….parquet",…}}}
//!   tables/name-<stamp>.parquet
//!   tmp/                       files being written
//!   .lock                      held while the catalog changes
//! ```
//!
//! Writes never leave the warehouse half-changed: a table is written to a temporary file under
//! `tmp/` ([`PendingTable`]), then, under the lock, renamed into `tables/` and the catalog is
//! replaced by renaming a complete new `catalog.json` over the old one. A failed or interrupted
//! write drops the temporary file; a process killed outright leaves at most a stray file, which
//! later commits clean up, never a catalog entry pointing at a partial file.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, EngineResult, closest};

/// Environment variable naming the warehouse directory.
pub const WAREHOUSE_ENV: &str = "FASTCAUSAL_WAREHOUSE";

/// What the catalog records about a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableEntry {
    /// The Parquet file, relative to the warehouse root.
    pub file: String,
    /// Number of rows.
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// When the table was written, seconds since the Unix epoch.
    pub created_unix: u64,
    /// Where the data came from (a file path, or a description).
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CatalogFile {
    version: u32,
    tables: BTreeMap<String, TableEntry>,
}

/// A warehouse directory. Cheap to clone; every call reads the catalog afresh, so several
/// processes see each other's tables.
#[derive(Debug, Clone)]
pub struct Warehouse {
    root: PathBuf,
}

/// A table being written: a temporary file that becomes the table at [`Warehouse::commit`] and
/// disappears if dropped uncommitted.
#[derive(Debug)]
pub struct PendingTable {
    name: String,
    replace: bool,
    file: tempfile::NamedTempFile,
}

impl PendingTable {
    /// The file to write the Parquet data to.
    pub fn file(&mut self) -> &mut File {
        self.file.as_file_mut()
    }
    /// Its path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
    /// The table name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Checks a table name: lower-case letters, digits and `_`, not starting with a digit.
pub fn validate_table_name(name: &str) -> EngineResult<()> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        return Ok(());
    }
    let mut suggestion: String =
        name.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if suggestion.is_empty() || suggestion.starts_with(|c: char| c.is_ascii_digit()) {
        suggestion.insert(0, 't');
    }
    Err(EngineError::InvalidTableName { name: name.to_string(), suggestion })
}

impl Warehouse {
    /// The warehouse at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Warehouse { root: root.into() }
    }

    /// `$FASTCAUSAL_WAREHOUSE`, else `.fastcausal` under the current directory.
    pub fn default_root() -> PathBuf {
        std::env::var_os(WAREHOUSE_ENV).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".fastcausal"))
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn catalog_path(&self) -> PathBuf {
        self.root.join("catalog.json")
    }

    fn read_catalog(&self) -> EngineResult<CatalogFile> {
        let path = self.catalog_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| EngineError::Catalog { path: path.clone(), message: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(CatalogFile { version: 1, tables: BTreeMap::new() })
            }
            Err(e) => Err(EngineError::io(path, e)),
        }
    }

    fn write_catalog(&self, catalog: &CatalogFile) -> EngineResult<()> {
        let path = self.catalog_path();
        let mut tmp = tempfile::NamedTempFile::new_in(&self.root).map_err(|e| EngineError::io(&self.root, e))?;
        let json = serde_json::to_vec_pretty(catalog).expect("catalog serialises");
        tmp.write_all(&json).map_err(|e| EngineError::io(tmp.path(), e))?;
        tmp.as_file().sync_all().map_err(|e| EngineError::io(tmp.path(), e))?;
        tmp.persist(&path).map_err(|e| EngineError::io(&path, e.error))?;
        Ok(())
    }

    /// Tables by name.
    pub fn tables(&self) -> EngineResult<BTreeMap<String, TableEntry>> {
        Ok(self.read_catalog()?.tables)
    }

    /// One table, or `None`.
    pub fn table(&self, name: &str) -> EngineResult<Option<TableEntry>> {
        Ok(self.read_catalog()?.tables.remove(name))
    }

    /// One table, or an error that names the closest existing table.
    pub fn require(&self, name: &str) -> EngineResult<TableEntry> {
        let tables = self.tables()?;
        if let Some(t) = tables.get(name) {
            return Ok(t.clone());
        }
        Err(self.unknown_table(name, &tables))
    }

    fn unknown_table(&self, name: &str, tables: &BTreeMap<String, TableEntry>) -> EngineError {
        let suggestion = match closest(name, tables.keys().map(String::as_str)) {
            Some(c) => format!(" (did you mean '{c}'?)"),
            None if tables.is_empty() => format!(
                "; the warehouse {} has no tables yet (fastcausal import FILE --table NAME, or fastcausal gen-data)",
                self.root.display()
            ),
            None => format!("; tables: {}", tables.keys().cloned().collect::<Vec<_>>().join(", ")),
        };
        EngineError::UnknownTable { name: name.to_string(), suggestion }
    }

    /// The absolute-or-relative path of a table's file.
    pub fn file_path(&self, entry: &TableEntry) -> PathBuf {
        self.root.join(&entry.file)
    }

    /// Starts writing table `name`. Fails early if it exists and `replace` is false.
    pub fn begin(&self, name: &str, replace: bool) -> EngineResult<PendingTable> {
        validate_table_name(name)?;
        if !replace && self.table(name)?.is_some() {
            return Err(EngineError::TableExists(name.to_string()));
        }
        let tmp_dir = self.root.join("tmp");
        fs::create_dir_all(&tmp_dir).map_err(|e| EngineError::io(&tmp_dir, e))?;
        let file = tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .suffix(".parquet.partial")
            .tempfile_in(&tmp_dir)
            .map_err(|e| EngineError::io(&tmp_dir, e))?;
        Ok(PendingTable { name: name.to_string(), replace, file })
    }

    /// Makes a fully written pending table part of the warehouse, atomically.
    pub fn commit(&self, pending: PendingTable, rows: u64, source: Option<String>) -> EngineResult<TableEntry> {
        pending.file.as_file().sync_all().map_err(|e| EngineError::io(pending.file.path(), e))?;
        let _lock = self.lock()?;
        let mut catalog = self.read_catalog()?;
        if !pending.replace && catalog.tables.contains_key(&pending.name) {
            return Err(EngineError::TableExists(pending.name));
        }
        let tables_dir = self.root.join("tables");
        fs::create_dir_all(&tables_dir).map_err(|e| EngineError::io(&tables_dir, e))?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let relative = format!("tables/{}-{}.parquet", pending.name, now.as_nanos());
        let target = self.root.join(&relative);
        let bytes = pending.file.as_file().metadata().map_err(|e| EngineError::io(pending.file.path(), e))?.len();
        pending.file.persist(&target).map_err(|e| EngineError::io(&target, e.error))?;
        let entry = TableEntry { file: relative, rows, bytes, created_unix: now.as_secs(), source };
        let old = catalog.tables.insert(pending.name.clone(), entry.clone());
        catalog.version = 1;
        if let Err(e) = self.write_catalog(&catalog) {
            let _ = fs::remove_file(&target);
            return Err(e);
        }
        if let Some(old) = old {
            let _ = fs::remove_file(self.file_path(&old));
        }
        self.collect_garbage(&catalog);
        Ok(entry)
    }

    /// Removes a table.
    pub fn drop_table(&self, name: &str) -> EngineResult<TableEntry> {
        let _lock = self.lock()?;
        let mut catalog = self.read_catalog()?;
        let Some(entry) = catalog.tables.remove(name) else {
            return Err(self.unknown_table(name, &catalog.tables));
        };
        self.write_catalog(&catalog)?;
        let _ = fs::remove_file(self.file_path(&entry));
        Ok(entry)
    }

    /// Holds the warehouse lock (released when dropped, or when the process ends).
    pub(crate) fn lock(&self) -> EngineResult<File> {
        fs::create_dir_all(&self.root).map_err(|e| EngineError::io(&self.root, e))?;
        let path = self.root.join(".lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| EngineError::io(&path, e))?;
        f.lock().map_err(|e| EngineError::io(&path, e))?;
        Ok(f)
    }

    /// Deletes table files no catalog entry points at (left by a killed process), and
    /// temporary files older than a day. Called under the lock.
    fn collect_garbage(&self, catalog: &CatalogFile) {
        let referenced: std::collections::HashSet<&str> = catalog.tables.values().map(|t| t.file.as_str()).collect();
        if let Ok(dir) = fs::read_dir(self.root.join("tables")) {
            for e in dir.flatten() {
                let rel = format!("tables/{}", e.file_name().to_string_lossy());
                if !referenced.contains(rel.as_str()) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        if let Ok(dir) = fs::read_dir(self.root.join("tmp")) {
            for e in dir.flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age.as_secs() > 86_400);
                if old {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn names() {
        assert!(validate_table_name("test_data_small").is_ok());
        let err = validate_table_name("My-Table").unwrap_err().to_string();
        assert!(err.contains("'my_table'"), "{err}");
        assert!(validate_table_name("1abc").is_err());
    }

    #[test]
    fn commit_replace_drop_and_abandon() {
        let dir = tempfile::tempdir().unwrap();
        let w = Warehouse::new(dir.path());
        assert!(w.tables().unwrap().is_empty());

        let mut p = w.begin("t", false).unwrap();
        p.file().write_all(b"one").unwrap();
        let e = w.commit(p, 1, Some("a.csv".into())).unwrap();
        assert_eq!(std::fs::read(w.file_path(&e)).unwrap(), b"one");
        assert!(matches!(w.begin("t", false), Err(EngineError::TableExists(_))));

        // An abandoned write changes nothing.
        let mut p = w.begin("t", true).unwrap();
        p.file().write_all(b"partial").unwrap();
        drop(p);
        assert_eq!(w.tables().unwrap().len(), 1);
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);

        // Replacing swaps the file and removes the old one.
        let mut p = w.begin("t", true).unwrap();
        p.file().write_all(b"two").unwrap();
        let e2 = w.commit(p, 2, None).unwrap();
        assert_eq!(std::fs::read(w.file_path(&e2)).unwrap(), b"two");
        assert!(!w.file_path(&e).exists());

        let err = w.require("tt").unwrap_err().to_string();
        assert_eq!(err, "unknown table 'tt' (did you mean 't'?)");
        w.drop_table("t").unwrap();
        assert!(!w.file_path(&e2).exists());
        assert!(w.tables().unwrap().is_empty());
    }
}

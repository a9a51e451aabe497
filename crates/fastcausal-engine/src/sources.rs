//! Reading files by path: Parquet, CSV, newline-delimited JSON and Arrow IPC, as single files,
//! globs (`data/*.parquet`) or directories, so that `SELECT … FROM 'data/*.parquet'` works.
//!
//! The format comes from the file extension (`.parquet`, `.csv`/`.tsv`/`.txt`, `.json`/`.ndjson`/
//! `.jsonl`, `.arrow`/`.ipc`/`.feather`; `.gz`, `.bz2`, `.xz`, `.zst` compression for CSV and
//! JSON). For a directory, the first file with a known extension decides and files with the same
//! extension are read. A CSV's delimiter and header are sniffed from its first 64 KiB
//! ([`crate::sniff`]) unless [`SourceOptions`] says otherwise.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::arrow::ArrowFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};

use crate::sniff::{CsvDialect, sniff_csv};
use futures::future::BoxFuture;

/// Options that override what is detected from the files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceOptions {
    /// CSV delimiter (one byte), instead of the sniffed one.
    pub csv_delimiter: Option<u8>,
    /// Whether CSV files have a header row, instead of the sniffed answer.
    pub csv_has_header: Option<bool>,
    /// The format to read, instead of the one the file name says (e.g. CSV from `data.out`).
    pub format: Option<FileKind>,
}

/// The file formats fastcausal reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Parquet,
    Csv,
    Json,
    Arrow,
}

impl FileKind {
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Parquet => "Parquet",
            FileKind::Csv => "CSV",
            FileKind::Json => "JSON",
            FileKind::Arrow => "Arrow IPC",
        }
    }
}

/// A format and compression recognised from a file name, with the extension that selects such
/// files (e.g. `.csv.gz`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub kind: FileKind,
    pub compression: FileCompressionType,
    pub extension: String,
}

/// Recognises a file name's format, or `None`.
pub fn detect(name: &str) -> Option<Detected> {
    let lower = name.to_lowercase();
    let (stem, compression, suffix) = [
        (".gz", FileCompressionType::GZIP),
        (".bz2", FileCompressionType::BZIP2),
        (".xz", FileCompressionType::XZ),
        (".zst", FileCompressionType::ZSTD),
    ]
    .into_iter()
    .find_map(|(s, c)| lower.strip_suffix(s).map(|stem| (stem.to_string(), c, s)))
    .unwrap_or((lower.clone(), FileCompressionType::UNCOMPRESSED, ""));
    let ext = Path::new(&stem).extension()?.to_str()?.to_string();
    let kind = match ext.as_str() {
        "parquet" | "parq" | "pq" => FileKind::Parquet,
        "csv" | "tsv" | "txt" => FileKind::Csv,
        "json" | "ndjson" | "jsonl" => FileKind::Json,
        "arrow" | "ipc" | "feather" => FileKind::Arrow,
        _ => return None,
    };
    if compression != FileCompressionType::UNCOMPRESSED && matches!(kind, FileKind::Parquet | FileKind::Arrow) {
        return None;
    }
    Some(Detected { kind, compression, extension: format!(".{ext}{suffix}") })
}

fn has_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// Whether a table name looks like a path rather than a warehouse table name.
pub fn looks_like_path(name: &str) -> bool {
    name.contains(['/', '\\', '*', '?']) || detect(name).is_some() || Path::new(name).is_dir()
}

/// The files a path, glob or directory stands for (sorted), for sniffing and error messages.
pub fn expand(path: &str) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = if has_glob(path) {
        glob::glob(path)
            .map_err(|e| DataFusionError::Plan(format!("invalid file pattern '{path}': {e}")))?
            .filter_map(|p| p.ok())
            .filter(|p| p.is_file())
            .collect()
    } else if Path::new(path).is_dir() {
        std::fs::read_dir(path)
            .map_err(|e| DataFusionError::Plan(format!("cannot read directory '{path}': {e}")))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.') && detect(n).is_some())
            })
            .collect()
    } else if Path::new(path).is_file() {
        vec![PathBuf::from(path)]
    } else {
        vec![]
    };
    files.sort();
    Ok(files)
}

/// Reads up to 64 KiB of a (possibly compressed) file for sniffing; returns the bytes and
/// whether they are the whole file.
fn head(path: &Path, compression: FileCompressionType) -> std::io::Result<(Vec<u8>, bool)> {
    const N: usize = 64 * 1024;
    let file = std::fs::File::open(path)?;
    let mut reader: Box<dyn Read> = if compression == FileCompressionType::GZIP {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else if compression == FileCompressionType::UNCOMPRESSED {
        Box::new(file)
    } else {
        // Other codecs: sniff nothing, use defaults.
        return Ok((Vec::new(), true));
    };
    let mut buf = vec![0u8; N];
    let mut len = 0;
    while len < N {
        let got = reader.read(&mut buf[len..])?;
        if got == 0 {
            buf.truncate(len);
            return Ok((buf, true));
        }
        len += got;
    }
    Ok((buf, false))
}

/// The dialect of a CSV file: sniffed, then overridden by `options`.
pub fn csv_dialect(path: &Path, compression: FileCompressionType, options: &SourceOptions) -> Result<CsvDialect> {
    let mut dialect = if options.csv_delimiter.is_some() && options.csv_has_header.is_some() {
        CsvDialect { delimiter: b',', has_header: true }
    } else {
        let (bytes, complete) = head(path, compression)
            .map_err(|e| DataFusionError::Plan(format!("cannot read '{}': {e}", path.display())))?;
        let mut d = sniff_csv(&bytes, complete);
        if path.extension().is_some_and(|e| e == "tsv") && !bytes.contains(&b'\t') {
            d.delimiter = b'\t';
        }
        d
    };
    if let Some(d) = options.csv_delimiter {
        dialect.delimiter = d;
    }
    if let Some(h) = options.csv_has_header {
        dialect.has_header = h;
    }
    Ok(dialect)
}

/// A table over the files at `path` (file, glob or directory); `Ok(None)` if nothing matches.
pub fn table_for_path<'a>(
    session: &'a dyn Session,
    path: &'a str,
    options: &'a SourceOptions,
) -> BoxFuture<'a, Result<Option<Arc<dyn TableProvider>>>> {
    Box::pin(async move {
        let files = expand(path)?;
        let Some(first) = files.first() else { return Ok(None) };
        let name_for_format =
            if has_glob(path) || Path::new(path).is_dir() { first.to_string_lossy().to_string() } else { path.to_string() };
        let detected = match (options.format, detect(&name_for_format)) {
            (Some(kind), Some(d)) => Some(Detected { kind, ..d }),
            (Some(kind), None) => {
                Some(Detected { kind, compression: FileCompressionType::UNCOMPRESSED, extension: String::new() })
            }
            (None, d) => d,
        };
        let Some(detected) = detected else {
            return plan_err!(
                "cannot tell the format of '{path}' from its name; use a .parquet, .csv, .tsv, .json/.ndjson or .arrow file, \
                 or CREATE EXTERNAL TABLE … STORED AS <format> LOCATION '{path}'"
            );
        };
        let format: Arc<dyn FileFormat> = match detected.kind {
            FileKind::Parquet => Arc::new(ParquetFormat::default()),
            FileKind::Csv => {
                let dialect = csv_dialect(first, detected.compression, options)?;
                Arc::new(
                    CsvFormat::default()
                        .with_has_header(dialect.has_header)
                        .with_delimiter(dialect.delimiter)
                        .with_schema_infer_max_rec(100_000)
                        .with_file_compression_type(detected.compression),
                )
            }
            FileKind::Json => Arc::new(
                JsonFormat::default().with_schema_infer_max_rec(100_000).with_file_compression_type(detected.compression),
            ),
            FileKind::Arrow => Arc::new(ArrowFormat),
        };
        // A single file is read whatever its extension; a glob or directory selects by extension.
        let extension = if has_glob(path) || Path::new(path).is_dir() { detected.extension.clone() } else { String::new() };
        let listing = ListingOptions::new(format).with_file_extension(extension);
        let url = ListingTableUrl::parse(path)?;
        let schema = listing.infer_schema(session, &url).await.map_err(|e| {
            DataFusionError::Plan(format!(
                "cannot read {} '{path}': {}",
                detected.kind.name(),
                crate::error::user_message(&e)
            ))
        })?;
        let config = ListingTableConfig::new(url).with_listing_options(listing).with_schema(schema);
        Ok(Some(Arc::new(ListingTable::try_new(config)?) as Arc<dyn TableProvider>))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_names() {
        assert_eq!(detect("a/b.parquet").unwrap().kind, FileKind::Parquet);
        let d = detect("x.CSV.gz").unwrap();
        assert_eq!(
            (d.kind, d.compression, d.extension.as_str()),
            (FileKind::Csv, FileCompressionType::GZIP, ".csv.gz")
        );
        assert_eq!(detect("events.jsonl").unwrap().kind, FileKind::Json);
        assert_eq!(detect("t.feather").unwrap().kind, FileKind::Arrow);
        assert!(detect("t.parquet.gz").is_none());
        assert!(detect("readme").is_none());
    }
}

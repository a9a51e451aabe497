//! Local files read through memory maps.
//!
//! DataFusion reads every file through an object store. The stock local store answers a ranged
//! read (a Parquet column chunk, a footer) by allocating a buffer of the range's size, zeroing it
//! and copying the file's bytes into it with `pread`. A column chunk of a million doubles is an
//! 8 MB buffer the allocator takes fresh from the kernel, so each read costs the kernel zeroing
//! new pages, a user-space memset and a copy out of the page cache. On a 10M-row regression that
//! was a third of all CPU time, more than the statistic itself.
//!
//! [`MappedFileStore`] is the local store with ranged reads answered from a read-only memory map
//! of the file instead: a range is a slice of the page cache, shared with the kernel and copied
//! by no one (`Bytes` keeps the map alive as long as any slice of it is in use). Everything else
//! — listing, whole-file reads, writes, renames — is the stock store's.
//!
//! One caveat comes with memory maps: a file **truncated in place** while a query reads it (a
//! program that rewrites `data.parquet` by opening it for writing) makes the reading process
//! fault. Replacing a file by writing a new one and renaming it over the old one — how the
//! warehouse and most tools write — is safe: the old file stays mapped until the query ends.

use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, Error, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use futures::stream::{self, BoxStream, StreamExt};

const STORE: &str = "MappedFileStore";

/// The local file system with ranged reads served from memory maps. See the
/// [module documentation](self).
#[derive(Debug, Default)]
pub struct MappedFileStore {
    files: LocalFileSystem,
}

impl MappedFileStore {
    /// The store over the whole local file system (`file://` URLs).
    pub fn new() -> Self {
        MappedFileStore { files: LocalFileSystem::new() }
    }

    /// Makes this store the one `runtime` reads `file://` URLs with.
    pub fn register(runtime: &RuntimeEnv) {
        runtime.register_object_store(ObjectStoreUrl::local_filesystem().as_ref(), Arc::new(MappedFileStore::new()));
    }
}

impl fmt::Display for MappedFileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{STORE}")
    }
}

/// A read-only map of the whole of `file` (empty for an empty file, which cannot be mapped), with
/// the kernel asked to read `ranges` ahead: pages not in the page cache are then read in large
/// requests at once rather than one fault at a time.
fn map(file: &File, path: &std::path::Path, ranges: &[Range<u64>]) -> Result<Bytes> {
    let len = file.metadata().map_err(|e| read_error(path, e))?.len();
    if len == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: the map is read-only and private to this process; its one hazard, a file truncated
    // in place while mapped, is the documented caveat of this module.
    let map = unsafe { memmap2::Mmap::map(file) }.map_err(|e| read_error(path, e))?;
    for r in ranges.iter().filter(|r| r.start < r.end && r.end <= len) {
        // Only a hint: a refusal changes nothing but the speed of a cold read.
        let _ = map.advise_range(memmap2::Advice::WillNeed, r.start as usize, (r.end - r.start) as usize);
    }
    Ok(Bytes::from_owner(map))
}

/// `range` of the mapped file, or the error a read past its end gives.
fn slice(file: &Bytes, path: &std::path::Path, range: &Range<u64>) -> Result<Bytes> {
    let len = file.len() as u64;
    if range.start > range.end || range.end > len {
        return Err(Error::Generic {
            store: STORE,
            source: format!(
                "cannot read bytes {}..{} of {}: the file has {len} bytes (was it changed while being read?)",
                range.start,
                range.end,
                path.display()
            )
            .into(),
        });
    }
    Ok(file.slice(range.start as usize..range.end as usize))
}

fn read_error(path: &std::path::Path, e: std::io::Error) -> Error {
    Error::Generic { store: STORE, source: format!("cannot read {}: {e}", path.display()).into() }
}

#[async_trait]
impl ObjectStore for MappedFileStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.files.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.files.put_multipart_opts(location, opts).await
    }

    /// A ranged read is a slice of the map; a whole-file read or a `head` is the stock store's
    /// (an open file the caller streams from).
    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let ranged = options.range.is_some() && !options.head;
        let GetResult { payload, meta, range, attributes } = self.files.get_opts(location, options).await?;
        let payload = match payload {
            GetResultPayload::File(file, path) if ranged => {
                let bytes = slice(&map(&file, &path, std::slice::from_ref(&range))?, &path, &range)?;
                GetResultPayload::Stream(stream::once(async move { Ok(bytes) }).boxed())
            }
            payload => payload,
        };
        Ok(GetResult { payload, meta, range, attributes })
    }

    /// Every range a slice of one map of the file.
    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let path = self.files.path_to_filesystem(location)?;
        let file = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound { path: path.display().to_string(), source: Box::new(e) },
            _ => read_error(&path, e),
        })?;
        let mapped = map(&file, &path, ranges)?;
        ranges.iter().map(|r| slice(&mapped, &path, r)).collect()
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.files.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.files.list(prefix)
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        self.files.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.files.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.files.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.files.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::object_store::{GetRange, ObjectStoreExt};

    fn store_with_file(contents: &[u8]) -> (tempfile::TempDir, MappedFileStore, Path) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data.bin");
        std::fs::write(&file, contents).unwrap();
        let location = Path::from_filesystem_path(&file).unwrap();
        (dir, MappedFileStore::new(), location)
    }

    #[tokio::test]
    async fn ranged_reads_are_the_files_bytes() {
        let contents: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let (_dir, store, location) = store_with_file(&contents);
        let parts = store.get_ranges(&location, &[0..10, 9_990..10_000, 300..300, 4_096..8_193]).await.unwrap();
        assert_eq!(parts[0].as_ref(), &contents[0..10]);
        assert_eq!(parts[1].as_ref(), &contents[9_990..10_000]);
        assert!(parts[2].is_empty());
        assert_eq!(parts[3].as_ref(), &contents[4_096..8_193]);
        assert_eq!(store.get_range(&location, 17..29).await.unwrap().as_ref(), &contents[17..29]);
        let footer = store.get_opts(&location, GetOptions { range: Some(GetRange::Suffix(8)), ..Default::default() });
        assert_eq!(footer.await.unwrap().bytes().await.unwrap().as_ref(), &contents[9_992..]);
        // A whole-file read is the stock store's.
        assert_eq!(store.get(&location).await.unwrap().bytes().await.unwrap().as_ref(), &contents[..]);
    }

    #[tokio::test]
    async fn reads_past_the_end_and_missing_files_are_errors() {
        let (_dir, store, location) = store_with_file(b"0123456789");
        let past = store.get_ranges(&location, &[5..11]).await.unwrap_err().to_string();
        assert!(past.contains("bytes 5..11") && past.contains("has 10 bytes"), "{past}");
        let (_dir, empty, empty_location) = store_with_file(b"");
        assert!(empty.get_ranges(&empty_location, &[0..0]).await.unwrap()[0].is_empty());
        assert!(empty.get_ranges(&empty_location, &[0..1]).await.is_err());
        let missing = Path::from_filesystem_path(_dir.path()).unwrap().join("missing.parquet");
        assert!(matches!(store.get_ranges(&missing, &[0..1]).await, Err(Error::NotFound { .. })));
    }
}

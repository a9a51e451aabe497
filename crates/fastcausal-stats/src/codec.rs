//! A compact, versioned binary form for states, so a partial state can cross a partition,
//! a process or a machine boundary (DataFusion carries it as a `Binary` value) or be stored and
//! finished later. Little-endian, each state starting with a one-byte tag and a version.

use crate::error::{Result, StatsError};

/// A state that can be written to bytes and read back exactly.
pub trait StateCodec: Sized {
    /// Appends the state to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads a state written by [`StateCodec::encode`].
    fn decode(bytes: &[u8]) -> Result<Self>;

    /// The state as a fresh byte vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Writes the header and little-endian fields.
pub(crate) struct Writer<'a>(pub &'a mut Vec<u8>);

impl Writer<'_> {
    pub fn header(&mut self, tag: u8, version: u8) {
        self.0.push(tag);
        self.0.push(version);
    }
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f64s(&mut self, vs: &[f64]) {
        for v in vs {
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    /// A length-prefixed byte string.
    pub fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
}

/// Reads what [`Writer`] wrote, failing cleanly on short or foreign input.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], what: &'static str, tag: u8, version: u8) -> Result<Self> {
        let mut r = Reader { bytes, what };
        let head = r.take(2)?;
        if head[0] != tag || head[1] != version {
            return Err(StatsError::CorruptState(format!(
                "expected a {what} state (tag {tag}, version {version}), found tag {} version {}",
                head[0], head[1]
            )));
        }
        Ok(r)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(StatsError::CorruptState(format!("{} state is truncated", self.what)));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    pub fn f64s(&mut self, n: usize) -> Result<Vec<f64>> {
        let raw = self.take(
            n.checked_mul(8)
                .ok_or_else(|| StatsError::CorruptState(format!("{} state has an impossible length", self.what)))?,
        )?;
        Ok(raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    /// A length-prefixed byte string written by [`Writer::bytes`].
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u64()?;
        let n = usize::try_from(n)
            .map_err(|_| StatsError::CorruptState(format!("{} state has an impossible length", self.what)))?;
        self.take(n)
    }
    pub fn finish(self) -> Result<()> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(StatsError::CorruptState(format!("{} state has {} trailing bytes", self.what, self.bytes.len())))
        }
    }
}

//! ClickHouse's RowBinary format, for the types Flightlog writes. Both
//! backends take the same bytes (chDB's insert stream, a server's HTTP
//! body), and encoding in Rust spares the engine from parsing JSON.
//! [`Reader`] reads it back (as `RowBinaryWithNamesAndTypes`) for reads of
//! long texts, which JSON would make both sides escape and unescape.

use crate::error::StoreError;

pub struct RowBinary<'a>(pub &'a mut Vec<u8>);

impl RowBinary<'_> {
    fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.0.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }

    /// String and LowCardinality(String).
    pub fn string(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    /// A String column holding arbitrary bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    pub fn strings(&mut self, items: &[String]) {
        self.varint(items.len() as u64);
        for s in items {
            self.string(s);
        }
    }

    pub fn u8(&mut self, n: u8) {
        self.0.push(n);
    }

    pub fn u64(&mut self, n: u64) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }

    /// Int64, and DateTime64 (ticks since the epoch).
    pub fn i64(&mut self, n: i64) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }

    pub fn f64(&mut self, n: f64) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }

    pub fn bool(&mut self, b: bool) {
        self.0.push(b as u8);
    }

    pub fn fixed(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// Array(FixedString(N)): the count, then each value's bytes.
    pub fn fixed_list<const N: usize>(&mut self, items: &[[u8; N]]) {
        self.varint(items.len() as u64);
        for item in items {
            self.0.extend_from_slice(item);
        }
    }

    /// An empty Map(K, V): its entry count, zero.
    pub fn empty_map(&mut self) {
        self.varint(0);
    }

    /// A Map's or an Array's number of entries; the caller writes them.
    pub fn len(&mut self, n: usize) {
        self.varint(n as u64);
    }

    /// Nullable(T): a null flag, then the value when present.
    pub fn nullable<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Self, T)) {
        match value {
            None => self.0.push(1),
            Some(v) => {
                self.0.push(0);
                write(self, v);
            }
        }
    }
}

/// `LowCardinality(T)` as `T`: the same bytes in RowBinary.
pub fn without_low_cardinality(engine_type: &str) -> &str {
    engine_type.strip_prefix("LowCardinality(").and_then(|t| t.strip_suffix(')')).unwrap_or(engine_type)
}

/// Reads `RowBinaryWithNamesAndTypes`: the header is checked against the
/// columns the caller expects (names and types, in order), so a query and
/// its decoder cannot drift apart silently; then values are read in order.
pub struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// Checks the header: `columns` are (name, type) as ClickHouse names
    /// them, with `LowCardinality(T)` read as `T` (the same bytes).
    pub fn new(buf: &'a [u8], columns: &[(&str, &str)]) -> Result<Self, StoreError> {
        let mut r = Reader { buf, at: 0 };
        if buf.is_empty() {
            // No rows: chDB may send no header at all.
            return Ok(r);
        }
        let count = r.varint()? as usize;
        let names: Vec<&str> = (0..count).map(|_| r.str()).collect::<Result<_, _>>()?;
        let types: Vec<&str> = (0..count).map(|_| r.str()).collect::<Result<_, _>>()?;
        let found: Vec<(&str, &str)> = names.into_iter().zip(types.into_iter().map(without_low_cardinality)).collect();
        if found != columns {
            return Err(StoreError::Decode(format!("the engine answered columns {found:?}, expected {columns:?}")));
        }
        Ok(r)
    }

    /// Whether every row has been read.
    pub fn done(&self) -> bool {
        self.at >= self.buf.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| StoreError::Decode(format!("RowBinary cut short at byte {} of {}", self.at, self.buf.len())))?;
        let bytes = &self.buf[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn varint(&mut self) -> Result<u64, StoreError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(StoreError::Decode("RowBinary length longer than 64 bits".into()))
    }

    /// String and LowCardinality(String), as the bytes stored.
    pub fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let len = self.varint()?;
        self.take(usize::try_from(len).map_err(|_| StoreError::Decode(format!("RowBinary length {len} too large")))?)
    }

    /// String and LowCardinality(String), as text.
    pub fn str(&mut self) -> Result<&'a str, StoreError> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes).map_err(|e| StoreError::Decode(format!("a String that is not UTF-8: {e}")))
    }

    pub fn string(&mut self) -> Result<String, StoreError> {
        self.str().map(str::to_owned)
    }

    /// String as text, with bytes that are not UTF-8 replaced (U+FFFD),
    /// and whether any were: a content column changed behind Flightlog's
    /// back then still reads, as changed, rather than failing the whole
    /// answer (as `output_format_json_validate_utf8` does for JSON).
    pub fn text_lossy(&mut self) -> Result<(String, bool), StoreError> {
        let bytes = self.bytes()?;
        Ok(match std::str::from_utf8(bytes) {
            Ok(s) => (s.to_owned(), false),
            Err(_) => (String::from_utf8_lossy(bytes).into_owned(), true),
        })
    }

    /// Bool.
    pub fn bool(&mut self) -> Result<bool, StoreError> {
        Ok(self.u8()? != 0)
    }

    pub fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }

    pub fn u64(&mut self) -> Result<u64, StoreError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    pub fn i64(&mut self) -> Result<i64, StoreError> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    pub fn f64(&mut self) -> Result<f64, StoreError> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    /// FixedString(N).
    pub fn fixed<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    /// Nullable(T): `None` for null.
    pub fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Result<T, StoreError>) -> Result<Option<T>, StoreError> {
        match self.take(1)?[0] {
            0 => read(self).map(Some),
            _ => Ok(None),
        }
    }

    /// A Map's or an Array's number of entries; its items follow in turn.
    pub fn map_len(&mut self) -> Result<u64, StoreError> {
        self.varint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_length_prefixed_with_a_leb128_varint() {
        let mut buf = Vec::new();
        RowBinary(&mut buf).string(&"x".repeat(300));
        assert_eq!(&buf[..2], &[0xAC, 0x02]);
        assert_eq!(buf.len(), 302);
    }

    /// A header as the engine writes it, then rows.
    fn answer(columns: &[(&str, &str)], rows: impl FnOnce(&mut RowBinary)) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut w = RowBinary(&mut buf);
        w.varint(columns.len() as u64);
        columns.iter().for_each(|(name, _)| w.string(name));
        columns.iter().for_each(|(_, ty)| w.string(ty));
        rows(&mut w);
        buf
    }

    #[test]
    fn the_reader_reads_what_the_writer_wrote_under_a_checked_header() {
        let sent = [("s", "LowCardinality(String)"), ("n", "UInt64"), ("x", "Nullable(Float64)"), ("m", "Map(String, String)")];
        let expected = [("s", "String"), ("n", "UInt64"), ("x", "Nullable(Float64)"), ("m", "Map(String, String)")];
        let buf = answer(&sent, |w| {
            w.string(&"é".repeat(200));
            w.u64(u64::MAX);
            w.nullable(Some(0.5), |w, v| w.f64(v));
            w.varint(1);
            w.string("k");
            w.string("v");
            w.string("");
            w.u64(0);
            w.nullable(None::<f64>, |w, v| w.f64(v));
            w.empty_map();
        });
        let mut r = Reader::new(&buf, &expected).unwrap();
        assert_eq!(r.str().unwrap(), "é".repeat(200));
        assert_eq!(r.u64().unwrap(), u64::MAX);
        assert_eq!(r.nullable(Reader::f64).unwrap(), Some(0.5));
        assert_eq!((r.map_len().unwrap(), r.str().unwrap(), r.str().unwrap()), (1, "k", "v"));
        assert!(!r.done());
        assert_eq!(r.str().unwrap(), "");
        assert_eq!(r.u64().unwrap(), 0);
        assert_eq!(r.nullable(Reader::f64).unwrap(), None);
        assert_eq!(r.map_len().unwrap(), 0);
        assert!(r.done());
        assert!(matches!(r.u64(), Err(StoreError::Decode(_))), "reading past the end is an error, not a panic");
    }

    #[test]
    fn fixed_strings_and_bytes_that_are_not_text() {
        let columns = [("h", "FixedString(4)"), ("b", "String")];
        let buf = answer(&columns, |w| {
            w.fixed(&[1, 2, 3, 4]);
            w.bytes(&[0xC3, 0x28]);
        });
        let mut r = Reader::new(&buf, &columns).unwrap();
        assert_eq!(r.fixed::<4>().unwrap(), [1, 2, 3, 4]);
        assert_eq!(r.bytes().unwrap(), [0xC3, 0x28], "read as stored");
        let mut r = Reader::new(&buf, &columns).unwrap();
        r.fixed::<4>().unwrap();
        assert!(matches!(r.str(), Err(StoreError::Decode(_))), "as text: an error");
        let cut = &buf[..buf.len() - 1];
        let mut r = Reader::new(cut, &columns).unwrap();
        r.fixed::<4>().unwrap();
        assert!(matches!(r.bytes(), Err(StoreError::Decode(_))), "a value cut short is an error");
    }

    #[test]
    fn the_reader_refuses_a_header_it_does_not_expect() {
        let buf = answer(&[("a", "UInt64"), ("b", "String")], |w| w.u64(1));
        for expected in [&[("a", "UInt64")][..], &[("a", "UInt64"), ("b", "UInt64")], &[("b", "String"), ("a", "UInt64")]] {
            let Err(StoreError::Decode(why)) = Reader::new(&buf, expected) else { panic!("{expected:?} accepted") };
            assert!(why.contains("expected"), "{why}");
        }
        assert!(Reader::new(&[], &[("a", "UInt64")]).unwrap().done(), "no rows: no header needed");
    }

    #[test]
    fn nullable_writes_a_flag_first() {
        let mut buf = Vec::new();
        let mut w = RowBinary(&mut buf);
        w.nullable(None::<u64>, |w, v| w.u64(v));
        w.nullable(Some(7u64), |w, v| w.u64(v));
        assert_eq!(buf, [1, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
    }
}

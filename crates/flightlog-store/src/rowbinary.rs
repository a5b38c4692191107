//! ClickHouse's RowBinary format, for the types Flightlog writes. Both
//! backends take the same bytes (chDB's insert stream, a server's HTTP
//! body), and encoding in Rust spares the engine from parsing JSON.

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

    /// An empty Map(K, V): its entry count, zero.
    pub fn empty_map(&mut self) {
        self.varint(0);
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

    #[test]
    fn nullable_writes_a_flag_first() {
        let mut buf = Vec::new();
        let mut w = RowBinary(&mut buf);
        w.nullable(None::<u64>, |w, v| w.u64(v));
        w.nullable(Some(7u64), |w, v| w.u64(v));
        assert_eq!(buf, [1, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
    }
}

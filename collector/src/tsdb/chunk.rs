//! Gorilla-style XOR chunks, the same scheme as Prometheus's `chunkenc.XORChunk`:
//! timestamps as delta-of-delta in variable bit widths, values as the XOR with the
//! previous value (leading/trailing zero windows). Values keep their exact bits, so
//! Prometheus's staleness marker (a particular NaN) survives.

/// Samples per chunk before a new one is cut (as in Prometheus).
pub const SAMPLES_PER_CHUNK: u16 = 120;

/// The NaN bit pattern Prometheus uses to mark a series stale.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

#[derive(Clone, Debug, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits still free in the last byte (0 = start a new byte).
    free: u8,
    /// The XOR appender's leading and trailing zero window, kept here beside `free` in
    /// what would be padding: a head series holds an appender, and 8 bytes less keeps a
    /// series in a smaller allocation class.
    leading: u8,
    trailing: u8,
}

impl BitWriter {
    /// Start a new byte. Growing by 16 bytes rather than doubling keeps the open chunk
    /// of each head series close to its size (a head chunk ends near 128 bytes; the
    /// allocator's size classes are 16 bytes apart there).
    fn new_byte(&mut self) {
        if self.bytes.len() == self.bytes.capacity() {
            self.bytes.reserve_exact(16);
        }
        self.bytes.push(0);
        self.free = 8;
    }

    fn bit(&mut self, b: bool) {
        if self.free == 0 {
            self.new_byte();
        }
        self.free -= 1;
        if b {
            if let Some(last) = self.bytes.last_mut() {
                *last |= 1 << self.free;
            }
        }
    }

    fn bits(&mut self, v: u64, n: u8) {
        let mut n = n;
        while n > 0 {
            if self.free == 0 {
                self.new_byte();
            }
            let take = n.min(self.free);
            let chunk = ((v >> (n - take)) & ((1u64 << take) - 1)) as u8;
            self.free -= take;
            if let Some(last) = self.bytes.last_mut() {
                *last |= chunk << self.free;
            }
            n -= take;
        }
    }
}

#[derive(Clone, Debug)]
struct BitReader<'a> {
    b: &'a [u8],
    pos: usize, // in bits
}

impl BitReader<'_> {
    fn bit(&mut self) -> Option<bool> {
        let byte = *self.b.get(self.pos / 8)?;
        let r = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(r)
    }

    fn bits(&mut self, n: u8) -> Option<u64> {
        let mut v = 0u64;
        let mut n = n;
        while n > 0 {
            let byte = *self.b.get(self.pos / 8)?;
            let off = (self.pos % 8) as u8;
            let avail = 8 - off;
            let take = n.min(avail);
            let chunk = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            v = (v << take) | u64::from(chunk);
            self.pos += take as usize;
            n -= take;
        }
        Some(v)
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}
fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends samples to one chunk.
#[derive(Clone, Debug)]
pub struct XorAppender {
    /// The chunk's bytes (its first two: the sample count, big-endian).
    w: BitWriter,
    t: i64,
    t_delta: i64,
    v: u64,
    min_t: i64,
}

impl Default for XorAppender {
    fn default() -> Self {
        XorAppender {
            w: BitWriter {
                bytes: vec![0, 0],
                free: 0,
                leading: 0xff,
                trailing: 0,
            },
            t: 0,
            t_delta: 0,
            v: 0,
            min_t: 0,
        }
    }
}

impl XorAppender {
    pub fn count(&self) -> u16 {
        chunk_len(&self.w.bytes)
    }

    pub fn min_time(&self) -> i64 {
        self.min_t
    }

    pub fn max_time(&self) -> i64 {
        self.t
    }

    pub fn last_value(&self) -> f64 {
        f64::from_bits(self.v)
    }

    /// Append a sample; timestamps must increase (the caller checks).
    pub fn append(&mut self, t: i64, v: f64) {
        let vb = v.to_bits();
        let count = self.count();
        match count {
            0 => {
                let mut tmp = Vec::with_capacity(10);
                super::labels::write_uvarint(&mut tmp, zigzag(t));
                for b in tmp {
                    self.w.bits(u64::from(b), 8);
                }
                self.w.bits(vb, 64);
                self.min_t = t;
            }
            1 => {
                let d = t - self.t;
                let mut tmp = Vec::with_capacity(10);
                super::labels::write_uvarint(&mut tmp, d as u64);
                for b in tmp {
                    self.w.bits(u64::from(b), 8);
                }
                self.t_delta = d;
                self.write_value(vb);
            }
            _ => {
                let d = t - self.t;
                let dod = d - self.t_delta;
                match dod {
                    0 => self.w.bit(false),
                    -8191..=8192 => {
                        self.w.bits(0b10, 2);
                        self.w.bits(dod as u64 & ((1 << 14) - 1), 14);
                    }
                    -65535..=65536 => {
                        self.w.bits(0b110, 3);
                        self.w.bits(dod as u64 & ((1 << 17) - 1), 17);
                    }
                    -524287..=524288 => {
                        self.w.bits(0b1110, 4);
                        self.w.bits(dod as u64 & ((1 << 20) - 1), 20);
                    }
                    _ => {
                        self.w.bits(0b1111, 4);
                        self.w.bits(dod as u64, 64);
                    }
                }
                self.t_delta = d;
                self.write_value(vb);
            }
        }
        self.t = t;
        self.v = vb;
        let c = (count + 1).to_be_bytes();
        self.w.bytes[0] = c[0];
        self.w.bytes[1] = c[1];
    }

    fn write_value(&mut self, vb: u64) {
        let x = vb ^ self.v;
        if x == 0 {
            self.w.bit(false);
            return;
        }
        self.w.bit(true);
        let mut leading = x.leading_zeros() as u8;
        let trailing = x.trailing_zeros() as u8;
        if leading >= 32 {
            leading = 31;
        }
        if self.w.leading != 0xff && leading >= self.w.leading && trailing >= self.w.trailing {
            self.w.bit(false);
            let sig = 64 - self.w.leading - self.w.trailing;
            self.w.bits(x >> self.w.trailing, sig);
        } else {
            self.w.leading = leading;
            self.w.trailing = trailing;
            self.w.bit(true);
            self.w.bits(u64::from(leading), 5);
            let sig = 64 - leading - trailing;
            // 64 significant bits are written as 0 (it cannot be 0 otherwise).
            self.w.bits(u64::from(sig & 63), 6);
            self.w.bits(x >> trailing, sig);
        }
    }

    /// The encoded chunk so far.
    pub fn bytes(&self) -> &[u8] {
        &self.w.bytes
    }
}

/// Number of samples in an encoded chunk.
pub fn chunk_len(b: &[u8]) -> u16 {
    match b {
        [a, c, ..] => u16::from_be_bytes([*a, *c]),
        _ => 0,
    }
}

/// Iterates the samples of an encoded chunk. A corrupt chunk ends the iteration early.
#[derive(Clone, Debug)]
pub struct XorIter<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    t_delta: i64,
    v: u64,
    leading: u8,
    trailing: u8,
}

impl<'a> XorIter<'a> {
    pub fn new(b: &'a [u8]) -> XorIter<'a> {
        XorIter {
            r: BitReader { b, pos: 16 },
            total: chunk_len(b),
            read: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: 0,
            trailing: 0,
        }
    }

    fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = self.r.bits(8)? as u8;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
    }

    fn read_value(&mut self) -> Option<()> {
        if !self.r.bit()? {
            return Some(());
        }
        if self.r.bit()? {
            self.leading = self.r.bits(5)? as u8;
            let mut sig = self.r.bits(6)? as u8;
            if sig == 0 {
                sig = 64;
            }
            self.trailing = 64u8.checked_sub(self.leading)?.checked_sub(sig)?;
        }
        let sig = 64u8.checked_sub(self.leading)?.checked_sub(self.trailing)?;
        let bits = self.r.bits(sig)?;
        self.v ^= bits.checked_shl(u32::from(self.trailing)).unwrap_or(0);
        Some(())
    }

    fn step(&mut self) -> Option<(i64, f64)> {
        match self.read {
            0 => {
                self.t = unzigzag(self.uvarint()?);
                self.v = self.r.bits(64)?;
            }
            1 => {
                self.t_delta = self.uvarint()? as i64;
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
            _ => {
                let dod: i64 = if !self.r.bit()? {
                    0
                } else if !self.r.bit()? {
                    sign_extend(self.r.bits(14)?, 14)
                } else if !self.r.bit()? {
                    sign_extend(self.r.bits(17)?, 17)
                } else if !self.r.bit()? {
                    sign_extend(self.r.bits(20)?, 20)
                } else {
                    self.r.bits(64)? as i64
                };
                self.t_delta = self.t_delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
        }
        self.read += 1;
        Some((self.t, f64::from_bits(self.v)))
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

impl Iterator for XorIter<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.read >= self.total {
            return None;
        }
        let r = self.step();
        if r.is_none() {
            self.read = self.total;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(samples: &[(i64, f64)]) -> Vec<u8> {
        let mut a = XorAppender::default();
        for &(t, v) in samples {
            a.append(t, v);
        }
        let got: Vec<_> = XorIter::new(a.bytes()).collect();
        assert_eq!(got.len(), samples.len());
        for (g, s) in got.iter().zip(samples) {
            assert_eq!(g.0, s.0);
            assert_eq!(g.1.to_bits(), s.1.to_bits(), "at t={}", s.0);
        }
        a.bytes().to_vec()
    }

    #[test]
    fn regular_counter_compresses_well() {
        let s: Vec<_> = (0..120)
            .map(|i| (1_700_000_000_000 + i * 15_000, (i * 7) as f64))
            .collect();
        let b = roundtrip(&s);
        assert!(b.len() < 120 * 3, "{} bytes", b.len());
    }

    #[test]
    fn irregular_times_and_special_values() {
        let vals = [
            0.0,
            -0.0,
            1.5,
            f64::NAN,
            stale_nan(),
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            -3.25,
            f64::MIN_POSITIVE,
            42.0,
        ];
        let mut t = -5_000i64;
        let mut s = Vec::new();
        for (i, v) in vals.iter().cycle().take(110).enumerate() {
            t += [1, 15_000, 1_000_000, 7, 100_000_000_000, 3][i % 6];
            s.push((t, *v));
        }
        roundtrip(&s);
    }

    #[test]
    fn every_bit_width_of_delta_of_delta() {
        let mut t = 0i64;
        let mut s = vec![];
        for (i, d) in [
            10i64, 10, 8000, 10, 60000, 10, 500_000, 10, 10_000_000, 10, -5, 3,
        ]
        .iter()
        .enumerate()
        {
            t += d.abs() + 1;
            s.push((t, i as f64 * 0.1));
        }
        roundtrip(&s);
    }

    #[test]
    fn stale_nan_is_recognised() {
        assert!(is_stale_nan(stale_nan()));
        assert!(!is_stale_nan(f64::NAN));
    }

    #[test]
    fn corrupt_chunks_end_early_without_panic() {
        let s: Vec<_> = (0..50).map(|i| (i * 1000, i as f64 * 1.1)).collect();
        let b = roundtrip(&s);
        for cut in 0..b.len() {
            let _ = XorIter::new(&b[..cut]).count();
        }
        let mut bad = b.clone();
        for i in 2..bad.len() {
            bad[i] ^= 0xa5;
            let _ = XorIter::new(&bad).count();
        }
    }
}

//! The on-disk encoding of one series' samples inside a block (before zstd).
//!
//! XOR chunks suit the head (appendable, bit-packed), but on disk most series are
//! integer counters or decimals with a few digits, and zstd compresses small integers far
//! better than XOR residues. So a block stores, per series:
//!
//! `0x00` (version marker: the older chunk-list layout never starts with 0), `uvarint n`,
//! timestamps as `zigzag t0`, `zigzag Δ1`, then `zigzag ΔΔ` each (a regular scrape
//! gives a run of zeros), then a value kind byte:
//! - `0..=6`: every value is an exact decimal with that many fractional digits
//!   (`v = i / 10^k` round-trips bit for bit); the integers `i` follow as `zigzag i0`,
//!   then a mode byte (`0` = deltas, `1` = deltas of deltas, whichever is smaller) and
//!   the zigzag varints;
//! - `0xff`: anything else (NaN, staleness markers, ±Inf, long fractions): each value's
//!   bits XOR the previous value's bits, 8 bytes little-endian.
//!
//! Readers rebuild XOR chunks from the samples (see `block::Block::read_chunks`).

use super::labels::{read_uvarint, write_uvarint};

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

const POW10: [f64; 7] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];
/// Integers up to 2^53 are exact in an f64.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// The fewest fractional digits that represent every value exactly, if any.
fn decimal_scale(values: &[f64]) -> Option<(u8, Vec<i64>)> {
    'scale: for (k, p) in POW10.iter().enumerate() {
        let mut ints = Vec::with_capacity(values.len());
        for &v in values {
            let x = v * p;
            if !x.is_finite() || x.abs() >= MAX_EXACT || x != x.round() {
                continue 'scale;
            }
            let i = x as i64;
            // Bit-exact round trip (also rejects -0.0).
            if ((i as f64) / p).to_bits() != v.to_bits() {
                continue 'scale;
            }
            ints.push(i);
        }
        return Some((k as u8, ints));
    }
    None
}

fn varint_len(v: u64) -> usize {
    (64 - v.max(1).leading_zeros() as usize).div_ceil(7)
}

/// Encode samples (in strictly increasing time order) and append them to `out`.
pub fn encode(samples: &[(i64, f64)], out: &mut Vec<u8>) {
    out.push(0);
    write_uvarint(out, samples.len() as u64);
    let mut prev_t = 0i64;
    let mut prev_d = 0i64;
    for (i, (t, _)) in samples.iter().enumerate() {
        match i {
            0 => write_uvarint(out, zigzag(*t)),
            1 => {
                prev_d = t.wrapping_sub(prev_t);
                write_uvarint(out, zigzag(prev_d));
            }
            _ => {
                let d = t.wrapping_sub(prev_t);
                write_uvarint(out, zigzag(d.wrapping_sub(prev_d)));
                prev_d = d;
            }
        }
        prev_t = *t;
    }
    let values: Vec<f64> = samples.iter().map(|s| s.1).collect();
    match decimal_scale(&values) {
        Some((k, ints)) => {
            out.push(k);
            let first = ints.first().copied().unwrap_or(0);
            write_uvarint(out, zigzag(first));
            let deltas: Vec<i64> = ints.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
            let dods: Vec<i64> = std::iter::once(deltas.first().copied().unwrap_or(0))
                .chain(deltas.windows(2).map(|w| w[1].wrapping_sub(w[0])))
                .take(deltas.len())
                .collect();
            let cost = |v: &[i64]| v.iter().map(|x| varint_len(zigzag(*x))).sum::<usize>();
            let (mode, seq) = if cost(&dods) < cost(&deltas) {
                (1u8, dods)
            } else {
                (0u8, deltas)
            };
            out.push(mode);
            for x in seq {
                write_uvarint(out, zigzag(x));
            }
        }
        None => {
            out.push(0xff);
            let mut prev = 0u64;
            for v in values {
                let b = v.to_bits();
                out.extend_from_slice(&(b ^ prev).to_le_bytes());
                prev = b;
            }
        }
    }
}

/// Decode what [`encode`] wrote (after the caller saw the leading 0); `None` if malformed
/// (including bytes left over).
pub fn decode(b: &[u8]) -> Option<Vec<(i64, f64)>> {
    let (mut ts, mut out) = (Vec::new(), Vec::new());
    let end = decode_with(b, i64::MIN, i64::MAX, &mut ts, &mut out)?;
    (end == b.len()).then_some(out)
}

/// The samples of [`encode`]'s output with timestamps in `[mint, maxt]`, appended to
/// `out`; `ts` is scratch space for the timestamps. Values after the last wanted sample
/// are not decoded (the frame's checksum has vouched for them), so a query for the start
/// of a part stops early. `None` if malformed.
pub fn decode_range(
    b: &[u8],
    mint: i64,
    maxt: i64,
    ts: &mut Vec<i64>,
    out: &mut Vec<(i64, f64)>,
) -> Option<()> {
    decode_with(b, mint, maxt, ts, out).map(|_| ())
}

/// [`decode_range`], returning where decoding stopped (the end when every value was
/// wanted).
fn decode_with(
    b: &[u8],
    mint: i64,
    maxt: i64,
    ts: &mut Vec<i64>,
    out: &mut Vec<(i64, f64)>,
) -> Option<usize> {
    let mut pos = 0;
    if *b.first()? != 0 {
        return None;
    }
    pos += 1;
    let n = read_uvarint(b, &mut pos)? as usize;
    if n > b.len() {
        return None;
    }
    ts.clear();
    ts.reserve(n);
    let mut prev_t = 0i64;
    let mut prev_d = 0i64;
    for i in 0..n {
        let z = unzigzag(read_uvarint(b, &mut pos)?);
        let t = match i {
            0 => z,
            1 => {
                prev_d = z;
                prev_t.wrapping_add(z)
            }
            _ => {
                prev_d = prev_d.wrapping_add(z);
                prev_t.wrapping_add(prev_d)
            }
        };
        ts.push(t);
        prev_t = t;
    }
    let lo = ts.partition_point(|&t| t < mint);
    let hi = ts.partition_point(|&t| t <= maxt).max(lo);
    let kind = *b.get(pos)?;
    pos += 1;
    if kind == 0xff {
        let mut prev = 0u64;
        for (i, &t) in ts[..hi].iter().enumerate() {
            let bytes: [u8; 8] = b.get(pos..pos + 8)?.try_into().ok()?;
            pos += 8;
            prev ^= u64::from_le_bytes(bytes);
            if i >= lo {
                out.push((t, f64::from_bits(prev)));
            }
        }
    } else {
        let p = *POW10.get(kind as usize)?;
        // (No samples still has its first value and mode, as `encode` writes them.)
        let mut cur = unzigzag(read_uvarint(b, &mut pos)?);
        let mode = *b.get(pos)?;
        pos += 1;
        if mode > 1 {
            return None;
        }
        let mut delta = 0i64;
        for (i, &t) in ts[..hi].iter().enumerate() {
            if i > 0 {
                let z = unzigzag(read_uvarint(b, &mut pos)?);
                delta = if mode == 0 { z } else { delta.wrapping_add(z) };
                cur = cur.wrapping_add(delta);
            }
            if i >= lo {
                out.push((t, cur as f64 / p));
            }
        }
    }
    Some(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(s: &[(i64, f64)]) -> usize {
        let mut b = Vec::new();
        encode(s, &mut b);
        let d = decode(&b).unwrap();
        assert_eq!(d.len(), s.len());
        for (a, b) in s.iter().zip(&d) {
            assert_eq!(a.0, b.0);
            assert_eq!(a.1.to_bits(), b.1.to_bits(), "{} vs {}", a.1, b.1);
        }
        b.len()
    }

    #[test]
    fn counters_decimals_and_odd_floats_round_trip_bit_exactly() {
        let counter: Vec<(i64, f64)> = (0..500)
            .map(|i| {
                (
                    1_000_000 + i * 15_000,
                    (132_197_167 + i * 1700 + (i * 37) % 90) as f64,
                )
            })
            .collect();
        let n = roundtrip(&counter);
        assert!(n < 500 * 3, "{n} bytes for 500 counter samples");
        let dec: Vec<(i64, f64)> = (0..300)
            .map(|i| (i * 1000, 2_128_796_665.555 + i as f64 * 0.125))
            .collect();
        roundtrip(&dec);
        let odd = vec![
            (1, f64::NAN),
            (2, crate::tsdb::chunk::stale_nan()),
            (3, f64::INFINITY),
            (4, -0.0),
            (5, 0.1 + 0.2),
            (7, 1e300),
        ];
        roundtrip(&odd);
        let ints_then_stale = vec![(10, 5.0), (20, 6.0), (30, crate::tsdb::chunk::stale_nan())];
        roundtrip(&ints_then_stale);
        roundtrip(&[]);
        roundtrip(&[(i64::MIN, -1.5)]);
        roundtrip(&[(-5, 1.0), (i64::MAX, 2.0)]);
    }

    #[test]
    fn a_range_decodes_the_same_samples_as_the_whole() {
        let series: Vec<Vec<(i64, f64)>> = vec![
            (0..700)
                .map(|i| (i * 15_000, (i * 3 + i % 7) as f64))
                .collect(),
            (0..300)
                .map(|i| (i * 10_000 + i % 3, i as f64 * 0.1 + 1e-9))
                .collect(),
            vec![(5, f64::NAN), (9, 1.0)],
            vec![],
        ];
        let (mut ts, mut out) = (Vec::new(), Vec::new());
        for s in &series {
            let mut b = Vec::new();
            encode(s, &mut b);
            let all = decode(&b).unwrap();
            for (mint, maxt) in [
                (i64::MIN, i64::MAX),
                (0, 0),
                (1, 14_999),
                (150_000, 3_000_000),
                (5, 5),
                (9, 100),
                (10_000_000, 20_000_000),
                (-10, -1),
            ] {
                out.clear();
                decode_range(&b, mint, maxt, &mut ts, &mut out).unwrap();
                let want: Vec<_> = all.iter().filter(|p| p.0 >= mint && p.0 <= maxt).collect();
                assert_eq!(out.len(), want.len(), "{mint}..{maxt}");
                for (a, w) in out.iter().zip(want) {
                    assert_eq!((a.0, a.1.to_bits()), (w.0, w.1.to_bits()));
                }
            }
            for cut in 0..b.len() {
                out.clear();
                let _ = decode_range(&b[..cut], i64::MIN, i64::MAX, &mut ts, &mut out);
            }
        }
    }

    #[test]
    fn malformed_input_is_none_not_a_panic() {
        let mut b = Vec::new();
        encode(&[(1, 1.0), (2, 2.0), (3, 4.0)], &mut b);
        for cut in 0..b.len() {
            assert!(decode(&b[..cut]).is_none(), "cut at {cut}");
        }
        assert!(decode(&[0, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_none());
        assert!(decode(&[1, 2, 3]).is_none());
    }
}

//! The remote_write 1.0 messages (`prometheus/prompb`: types.proto and remote.proto),
//! declared with prost's derive so that no protoc is needed at build time. Only what a
//! sender fills in: labels and samples (no exemplars, histograms or metadata).

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: labels sorted by name, samples in time order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: the value and its Unix time in milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The body of a remote-write request: the protobuf, Snappy block-compressed.
pub fn encode(req: &WriteRequest, proto: &mut Vec<u8>) -> Result<Vec<u8>, String> {
    use prost::Message;
    proto.clear();
    req.encode(proto).map_err(|e| e.to_string())?;
    snap::raw::Encoder::new()
        .compress_vec(proto)
        .map_err(|e| format!("snappy: {e}"))
}

/// The largest decompressed request [`decode`] accepts (a receiver's usual limit).
pub const MAX_DECODED: usize = 32 << 20;

/// The inverse of [`encode`] (tests and the fake receivers). The length that a Snappy
/// block claims is checked before anything is allocated.
pub fn decode(body: &[u8]) -> Result<WriteRequest, String> {
    use prost::Message;
    let len = snap::raw::decompress_len(body).map_err(|e| format!("snappy: {e}"))?;
    if len > MAX_DECODED {
        return Err(format!(
            "snappy: the block claims {len} bytes, more than the {MAX_DECODED} accepted"
        ));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips_and_has_the_wire_layout_of_prompb() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 1_700_000_000_000,
                }],
            }],
        };
        let mut buf = Vec::new();
        let body = encode(&req, &mut buf).unwrap();
        assert_eq!(decode(&body).unwrap(), req);
        // Field 1 (timeseries, length-delimited) holding field 1 (labels) then field 2
        // (samples); a sample is field 1 as a double (tag 0x09), field 2 as a varint (0x10).
        assert_eq!(buf[0], 0x0a);
        assert_eq!(buf[2], 0x0a);
        let label = [
            0x0a, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', 0x12, 0x02, b'u', b'p',
        ];
        assert_eq!(&buf[4..4 + label.len()], &label);
        let s = &buf[4 + label.len()..];
        assert_eq!(s[0], 0x12);
        assert_eq!(s[2], 0x09);
        assert_eq!(&s[3..11], &1.0f64.to_le_bytes());
        assert_eq!(s[11], 0x10);
        assert!(decode(b"not snappy").is_err());
        // A header claiming 4 GiB is refused before any allocation.
        assert!(decode(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00])
            .unwrap_err()
            .contains("more than"));
    }
}

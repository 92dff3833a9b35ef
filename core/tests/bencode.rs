//! `raw_dict_value` against generated documents: it must return exactly the bytes each value
//! was encoded as, and refuse every truncation of a valid document.

use bitfleet_core::bencode::{raw_dict_value, validate_dict, write_bytes, write_int};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Value {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Dict(Vec<(Vec<u8>, Value)>),
}

impl Value {
    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            Value::Int(v) => write_int(buf, *v),
            Value::Bytes(b) => write_bytes(buf, b),
            Value::List(items) => {
                buf.push(b'l');
                items.iter().for_each(|item| item.encode(buf));
                buf.push(b'e');
            }
            Value::Dict(entries) => {
                buf.push(b'd');
                for (key, value) in entries {
                    write_bytes(buf, key);
                    value.encode(buf);
                }
                buf.push(b'e');
            }
        }
    }
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::Int),
        vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::List),
            vec((vec(any::<u8>(), 0..8), inner), 0..8).prop_map(Value::Dict),
        ]
    })
}

fn encoded(value: &Value) -> Vec<u8> {
    let mut buf = Vec::new();
    value.encode(&mut buf);
    buf
}

proptest! {
    #[test]
    fn spans_are_the_exact_encodings(entries in btree_map(vec(any::<u8>(), 0..12), value(), 0..8)) {
        let mut doc = vec![b'd'];
        for (key, value) in &entries {
            write_bytes(&mut doc, key);
            value.encode(&mut doc);
        }
        doc.push(b'e');
        prop_assert!(validate_dict(&doc).is_ok());
        for (key, value) in &entries {
            let expected = encoded(value);
            prop_assert_eq!(raw_dict_value(&doc, key).unwrap(), Some(expected.as_slice()));
        }
        let absent = b"not a generated key because it is too long";
        prop_assert_eq!(raw_dict_value(&doc, absent).unwrap(), None);
        for cut in 0..doc.len() {
            prop_assert!(raw_dict_value(&doc[..cut], b"").is_err(), "prefix of {} bytes", cut);
        }
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(data in vec(any::<u8>(), 0..300)) {
        let _ = raw_dict_value(&data, b"info");
    }
}

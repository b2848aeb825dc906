//! Replies written as Python's `json.dumps` writes them by default (`", "` and `": "`, keys in
//! insertion order): the layout seed 000's expected output shows, byte for byte.

use std::io::Write;

use serde_json::Value;

/// JSON as Python's `json.dumps` writes it by default: `", "` between items, `": "` after keys.
pub fn python_json(v: &Value) -> String {
    struct PyFormatter;
    impl serde_json::ser::Formatter for PyFormatter {
        fn begin_array_value<W: ?Sized + Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first {
                Ok(())
            } else {
                w.write_all(b", ")
            }
        }
        fn begin_object_key<W: ?Sized + Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first {
                Ok(())
            } else {
                w.write_all(b", ")
            }
        }
        fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
            w.write_all(b": ")
        }
    }
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
    // Serializing a Value into a Vec cannot fail.
    serde::Serialize::serialize(v, &mut ser).expect("JSON value serializes");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

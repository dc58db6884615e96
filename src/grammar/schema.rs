//! JSON schemas read the way llama.cpp's `json_schema_to_grammar` reads them, before
//! llguidance compiles them: where the two differ, llama.cpp's reading is the one a model's
//! output is held to.
//!
//! - A schema without `type` takes it from its keywords, in the converter's order:
//!   `properties` (or a restricting `additionalProperties`) make it an object, `items` or
//!   `prefixItems` an array, `pattern`/`minLength`/`maxLength`/`format` a string.
//! - An object with `properties` and no `additionalProperties` allows no other property
//!   (JSON Schema allows any; llama.cpp generates only the listed ones, which is what a model
//!   should produce).
//! - `prefixItems` given as one schema instead of a list is the item schema (when `items` is
//!   absent; `items` wins when both are there).
//! - A `pattern` using what the engine cannot run (look-around, back-references) is dropped,
//!   as the converter drops what it does not support: the string is then any string. A
//!   malformed pattern stays an error.

use serde_json::{Map, Value};

/// Applies llama.cpp's reading to `schema` and every schema inside it, `unsupported` saying
/// whether a pattern uses what the engine cannot run.
pub(crate) fn normalize(schema: &mut Value, unsupported: &dyn Fn(&str) -> bool) {
    normalize_at(schema, unsupported, 0);
}

/// Nesting beyond this is left as it is (the engine reports what it cannot handle).
const MAX_DEPTH: usize = 256;

fn normalize_at(schema: &mut Value, unsupported: &dyn Fn(&str) -> bool, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let Value::Object(map) = schema else {
        return;
    };
    infer_type(map);
    let is_object = type_is(map, "object");
    if is_object && map.contains_key("properties") && !map.contains_key("additionalProperties") {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(prefix) = map.get("prefixItems") {
        if !prefix.is_array() {
            let prefix = map.remove("prefixItems").expect("present");
            map.entry("items").or_insert(prefix);
        }
    }
    if let Some(Value::String(p)) = map.get("pattern") {
        if unsupported(p) {
            map.remove("pattern");
        }
    }
    // Every place a schema can sit.
    for key in ["properties", "$defs", "definitions", "patternProperties"] {
        if let Some(Value::Object(m)) = map.get_mut(key) {
            for v in m.values_mut() {
                normalize_at(v, unsupported, depth + 1);
            }
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(a)) = map.get_mut(key) {
            for v in a {
                normalize_at(v, unsupported, depth + 1);
            }
        }
    }
    for key in ["items", "additionalProperties", "not", "contains"] {
        if let Some(v) = map.get_mut(key) {
            match v {
                Value::Array(a) => a
                    .iter_mut()
                    .for_each(|v| normalize_at(v, unsupported, depth + 1)),
                v => normalize_at(v, unsupported, depth + 1),
            }
        }
    }
}

fn type_is(map: &Map<String, Value>, name: &str) -> bool {
    match map.get("type") {
        Some(Value::String(t)) => t == name,
        Some(Value::Array(ts)) => ts.iter().any(|t| t == name),
        _ => false,
    }
}

/// The converter's choice of type for a schema without one.
fn infer_type(map: &mut Map<String, Value>) {
    if map.contains_key("type")
        || ["$ref", "anyOf", "oneOf", "allOf", "const", "enum"]
            .iter()
            .any(|k| map.contains_key(*k))
    {
        return;
    }
    let restricts_additional = map
        .get("additionalProperties")
        .is_some_and(|a| *a != Value::Bool(true));
    let t = if map.contains_key("properties") || restricts_additional {
        "object"
    } else if map.contains_key("items") || map.contains_key("prefixItems") {
        "array"
    } else if ["pattern", "minLength", "maxLength", "format"]
        .iter()
        .any(|k| map.contains_key(*k))
    {
        "string"
    } else {
        return;
    };
    map.insert("type".into(), Value::String(t.into()));
}

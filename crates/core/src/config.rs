//! The one configuration loader of the paper crates: strict JSON.
//!
//! Every configuration type derives `Deserialize` with `#[serde(deny_unknown_fields)]`, so a
//! misspelt key is an error instead of a silently applied default. [`load`] reads a file and
//! reports failures with the file, the path of the offending field (`lr.schedule[2].epoch`)
//! and the line and column; [`parse`] does the same for text with a given origin (a shipped
//! config embedded with `include_str!`, say). Range checks a JSON schema cannot express stay
//! with each type (its `validate`), reported through [`Error::Invalid`].

use crate::error::Error;
use serde::de::DeserializeOwned;
use std::path::Path;

/// Parses `text` (from `origin`, named in errors) as a `T`.
pub fn parse<T: DeserializeOwned>(text: &str, origin: impl std::fmt::Display) -> Result<T, Error> {
    let error = |field: String, inner: serde_json::Error| Error::Parse {
        origin: origin.to_string(),
        field,
        line: inner.line(),
        column: inner.column(),
        message: strip_position(&inner.to_string()),
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        error(field, e.into_inner())
    })?;
    de.end().map_err(|e| error(".".into(), e))?;
    Ok(value)
}

/// Reads the JSON file `path` as a `T`.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })?;
    parse(&text, path.display())
}

/// serde_json appends " at line L column C" to its messages; the error carries them apart.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        rate: f64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        name: String,
        #[serde(default)]
        steps: Vec<Inner>,
    }

    #[test]
    fn valid_text_parses() {
        let o: Outer = parse(r#"{"name": "a", "steps": [{"rate": 0.5}]}"#, "x.json").unwrap();
        assert_eq!(o.steps, vec![Inner { rate: 0.5 }]);
    }

    #[test]
    fn unknown_nested_field_names_file_path_and_line() {
        let text = "{\"name\": \"a\",\n \"steps\": [{\"rate\": 1.0}, {\"rat\": 0.5}]}";
        let e = parse::<Outer>(text, "cfg/run.json").unwrap_err();
        let Error::Parse {
            origin,
            field,
            line,
            message,
            ..
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!(
            (origin.as_str(), field.as_str(), *line),
            ("cfg/run.json", "steps[1].rat", 2)
        );
        assert!(message.contains("unknown field `rat`"), "{message}");
        assert!(
            e.to_string().starts_with("cfg/run.json: field `steps[1].rat`"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_the_field_and_trailing_text_is_rejected() {
        let e = parse::<Outer>(r#"{"name": 3}"#, "c.json").unwrap_err();
        assert!(matches!(&e, Error::Parse { field, .. } if field == "name"), "{e}");
        assert!(parse::<Outer>(r#"{"name": "a"} {}"#, "c.json").is_err());
    }

    #[test]
    fn missing_file_names_the_file() {
        let e = load::<Outer>(Path::new("no/such/config.json")).unwrap_err();
        assert!(
            e.to_string().starts_with("no/such/config.json: cannot read"),
            "{e}"
        );
    }
}

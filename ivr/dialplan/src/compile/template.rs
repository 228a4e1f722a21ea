//! `${variable}` templates: text with variable references, parsed once at
//! compile time into [`Template`] parts.
//!
//! Owns: the template syntax. A `$` not followed by `{` is plain text;
//! `${` must be closed by `}` around a variable name.

use crate::program::{Template, TemplatePart};

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed `${{` in `{text}`")]
    Unclosed { text: String },
    #[error(
        "invalid variable name `{name}` in `{text}`: names are lowercase letters, digits and `_`"
    )]
    InvalidName { name: String, text: String },
}

/// Parses `text` into literal and variable parts.
pub fn parse_template(text: &str) -> Result<Template, TemplateError> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        literal.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(TemplateError::Unclosed {
                text: text.to_owned(),
            });
        };
        let name = &after[..end];
        if !is_variable_name(name) {
            return Err(TemplateError::InvalidName {
                name: name.to_owned(),
                text: text.to_owned(),
            });
        }
        if !literal.is_empty() {
            parts.push(TemplatePart::Text(std::mem::take(&mut literal)));
        }
        parts.push(TemplatePart::Variable(name.to_owned()));
        rest = &after[end + 1..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        parts.push(TemplatePart::Text(literal));
    }
    Ok(Template { parts })
}

/// Variable names: a lowercase letter or `_`, then lowercase letters,
/// digits and `_`.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// The template's text when it has no variables.
pub fn constant_text(template: &Template) -> Option<String> {
    let mut text = String::new();
    for part in &template.parts {
        match part {
            TemplatePart::Text(t) => text.push_str(t),
            TemplatePart::Variable(_) => return None,
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> TemplatePart {
        TemplatePart::Text(t.to_owned())
    }
    fn var(v: &str) -> TemplatePart {
        TemplatePart::Variable(v.to_owned())
    }

    #[test]
    fn variables_and_text_alternate_in_order() {
        let t = parse_template("sip:${queue}@pbx-${language}.example").expect("valid");
        assert_eq!(
            t.parts,
            vec![
                text("sip:"),
                var("queue"),
                text("@pbx-"),
                var("language"),
                text(".example")
            ]
        );
    }

    #[test]
    fn a_dollar_without_brace_is_plain_text() {
        let t = parse_template("cost $5 ${x}$").expect("valid");
        assert_eq!(t.parts, vec![text("cost $5 "), var("x"), text("$")]);
        assert_eq!(parse_template("").expect("valid").parts, vec![]);
    }

    #[test]
    fn an_unclosed_reference_is_an_error() {
        assert_eq!(
            parse_template("you are ${position")
                .expect_err("unclosed")
                .to_string(),
            "unclosed `${` in `you are ${position`"
        );
    }

    #[test]
    fn variable_names_are_checked() {
        assert_eq!(
            parse_template("${Queue Position}")
                .expect_err("bad")
                .to_string(),
            "invalid variable name `Queue Position` in `${Queue Position}`: names are lowercase letters, digits and `_`"
        );
        assert!(parse_template("${}").is_err());
    }

    #[test]
    fn only_templates_without_variables_are_constant() {
        assert_eq!(
            constant_text(&parse_template("42").expect("valid")),
            Some("42".to_owned())
        );
        assert_eq!(constant_text(&parse_template("${x}").expect("valid")), None);
    }
}

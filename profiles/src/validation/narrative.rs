//! `txt-1` and `txt-2` (FHIR R4 Narrative): a resource's `text.div` is an XHTML `div` holding only
//! the basic formatting elements and attributes the specification lists, never script, forms,
//! frames, objects, event handlers or script URLs, and it has some content. Narrative is shown
//! to people by other parties' systems, so anything that could run there is refused at intake.

use serde_json::Value;

use crate::{Issue, IssueType};

const XHTML_NAMESPACE: &str = "http://www.w3.org/1999/xhtml";

/// The elements txt-1 allows (HTML 4.0 chapters 7-11 and 15, `a` and `img`).
const ELEMENTS: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "b",
    "big",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "tt",
    "ul",
    "var",
];

/// Attributes allowed on any element.
const GLOBAL_ATTRIBUTES: &[&str] = &["id", "class", "style", "lang", "xml:lang", "dir", "title"];

/// Attributes allowed on particular elements.
const ELEMENT_ATTRIBUTES: &[(&str, &[&str])] = &[
    ("div", &["xmlns"]),
    ("a", &["href", "name"]),
    ("img", &["src", "alt", "width", "height"]),
    ("q", &["cite"]),
    ("blockquote", &["cite"]),
    ("ol", &["start", "type"]),
    ("li", &["value", "type"]),
    (
        "table",
        &[
            "summary",
            "width",
            "border",
            "frame",
            "rules",
            "cellspacing",
            "cellpadding",
        ],
    ),
    ("col", &["span", "width", "align", "valign"]),
    ("colgroup", &["span", "width", "align", "valign"]),
    (
        "td",
        &[
            "colspan", "rowspan", "headers", "scope", "abbr", "align", "valign",
        ],
    ),
    (
        "th",
        &[
            "colspan", "rowspan", "headers", "scope", "abbr", "align", "valign",
        ],
    ),
    ("tr", &["align", "valign"]),
    ("thead", &["align", "valign"]),
    ("tbody", &["align", "valign"]),
    ("tfoot", &["align", "valign"]),
];

fn attribute_allowed(element: &str, attribute: &str) -> bool {
    GLOBAL_ATTRIBUTES.contains(&attribute)
        || ELEMENT_ATTRIBUTES
            .iter()
            .any(|(e, attrs)| *e == element && attrs.contains(&attribute))
}

/// A URL or style that could run code or fetch from elsewhere when the narrative is shown.
fn unsafe_value(attribute: &str, value: &str) -> bool {
    let squeezed: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    match attribute {
        "href" | "src" | "cite" => ["javascript:", "vbscript:", "data:text/html"]
            .iter()
            .any(|scheme| squeezed.starts_with(scheme)),
        "style" => squeezed.contains("expression(") || squeezed.contains("url("),
        _ => false,
    }
}

/// Issues for the narrative of `resource` (located at `expr`); none when it has no narrative.
pub fn check(resource: &Value, expr: &str, issues: &mut Vec<Issue>) {
    let Some(text) = resource.get("text") else {
        return;
    };
    let at = format!("{expr}.text.div");
    let Some(div) = text.get("div").and_then(Value::as_str) else {
        // Structure rules report a missing or non-string div.
        return;
    };
    if let Err(why) = check_div(div) {
        issues.push(
            Issue::error(IssueType::Value, format!("narrative (txt-1): {why}")).at(at.as_str()),
        );
    }
}

/// Why `div` breaks txt-1 or txt-2, if it does.
fn check_div(div: &str) -> Result<(), String> {
    let mut rest = div.trim_start();
    let mut first = true;
    let mut depth = 0usize;
    let mut content = false;
    while let Some(open) = rest.find('<') {
        content |= !rest[..open].trim().is_empty();
        rest = &rest[open..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            let end = comment.find("-->").ok_or("a comment is never closed")?;
            rest = &comment[end + 3..];
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            return Err("declarations, CDATA and processing instructions are not allowed".into());
        }
        let close = rest.starts_with("</");
        let body = &rest[if close { 2 } else { 1 }..];
        let end = tag_end(body).ok_or("a tag is never closed")?;
        let tag = &body[..end];
        rest = &body[end + 1..];
        let name_len = tag
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(tag.len());
        let name = tag[..name_len].to_ascii_lowercase();
        if first && (close || name != "div") {
            return Err("the narrative must be a single XHTML div element".into());
        }
        if !ELEMENTS.contains(&name.as_str()) {
            return Err(format!("the element <{name}> is not allowed in narrative"));
        }
        if close {
            depth = depth
                .checked_sub(1)
                .ok_or("a closing tag has no opening tag")?;
            if depth == 0 && !rest.trim().is_empty() {
                return Err("nothing may follow the narrative's div".into());
            }
            continue;
        }
        let self_closing = tag.trim_end().ends_with('/');
        let attributes = attributes(tag[name_len..].trim_end_matches('/'))?;
        for (attribute, value) in &attributes {
            let attribute = attribute.to_ascii_lowercase();
            if !attribute_allowed(&name, &attribute) {
                return Err(format!(
                    "the attribute {attribute} is not allowed on <{name}> in narrative"
                ));
            }
            if unsafe_value(&attribute, value) {
                return Err(format!(
                    "the {attribute} of <{name}> could run code or load from elsewhere"
                ));
            }
        }
        if first {
            let namespace = attributes
                .iter()
                .find(|(a, _)| a == "xmlns")
                .map(|(_, v)| v.as_str());
            if namespace != Some(XHTML_NAMESPACE) {
                return Err(format!(
                    "the narrative's div must declare xmlns=\"{XHTML_NAMESPACE}\""
                ));
            }
        }
        if name == "img" {
            content = true;
        }
        first = false;
        if !self_closing {
            depth += 1;
        }
    }
    if first {
        return Err("the narrative must be a single XHTML div element".into());
    }
    if depth != 0 {
        return Err("an element is never closed".into());
    }
    content |= !rest.trim().is_empty();
    if !content {
        // txt-2: the narrative has some non-whitespace content.
        return Err("the narrative has no content (txt-2)".into());
    }
    Ok(())
}

/// Where the tag starting `text` ends (its `>`), skipping quoted attribute values.
fn tag_end(text: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

/// `name="value"` pairs of a tag; every attribute needs a quoted value, as XHTML does.
fn attributes(mut text: &str) -> Result<Vec<(String, String)>, String> {
    let mut found = Vec::new();
    loop {
        text = text.trim_start();
        if text.is_empty() {
            return Ok(found);
        }
        let eq = text.find('=').ok_or("an attribute has no value")?;
        let name = text[..eq].trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err("an attribute has no value".into());
        }
        let value = text[eq + 1..].trim_start();
        let quote = value
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
            .ok_or("an attribute value is not quoted")?;
        let end = value[1..]
            .find(quote)
            .ok_or("an attribute value is never closed")?;
        found.push((name.to_owned(), value[1..1 + end].to_owned()));
        text = &value[end + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn div(inner: &str) -> String {
        format!("<div xmlns=\"{XHTML_NAMESPACE}\">{inner}</div>")
    }

    #[test]
    fn ordinary_narrative_passes() {
        for ok in [
            div("Referral for <b>social prescribing</b>"),
            div(
                "<p class=\"x\" style=\"color: red\">A</p><table><tr><td colspan=\"2\">1</td></tr></table>",
            ),
            div("<a href=\"#pat\">the patient</a><br/><img src=\"#photo\" alt=\"photo\"/>"),
            div("<!-- generated -->Text &amp; more"),
        ] {
            assert_eq!(check_div(&ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn script_events_forms_and_script_urls_are_refused() {
        for bad in [
            div("<script>alert(1)</script>"),
            div("<p onclick=\"alert(1)\">x</p>"),
            div("<a href=\" JavaScript:alert(1)\">x</a>"),
            div("<iframe src=\"https://evil.example\"></iframe>"),
            div("<form><input/></form>"),
            div("<span style=\"background:url(https://evil.example/t.png)\">x</span>"),
            div("<SCRIPT>x</SCRIPT>"),
            div("<![CDATA[<script>x</script>]]>"),
            "<p xmlns=\"http://www.w3.org/1999/xhtml\">not a div</p>".to_owned(),
            "<div>no namespace</div>".to_owned(),
            div("x") + "<script>after</script>",
            div("<p>unclosed"),
            div(""),
            div("<p a=b>unquoted</p>"),
        ] {
            assert!(check_div(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_issue_names_the_element_as_sent() {
        let resource = serde_json::json!({
            "resourceType": "ServiceRequest",
            "text": {"status": "generated", "div": div("<script>x</script>")},
        });
        let mut issues = Vec::new();
        check(&resource, "Bundle.entry[2].resource", &mut issues);
        assert_eq!(issues.len(), 1);
        assert_eq!(
            issues[0].expression.as_deref(),
            Some("Bundle.entry[2].resource.text.div")
        );
    }
}

//! Just enough of an HTML reader for the page tests: the console's own,
//! hand-written pages (no scripts in the markup, no entities beyond the
//! basic ones, attributes quoted with `"`). Each element comes with its
//! attributes, its text (its descendants' text joined), whether it has
//! child elements, and the names of the elements it is inside.

/// Elements that never have content or a closing tag.
const VOID: [&str; 8] = ["meta", "link", "img", "input", "br", "hr", "source", "area"];

#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub has_children: bool,
    /// The enclosing elements' names, outermost first.
    pub inside: Vec<String>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// An element holding only text (its words are what a person reads).
    pub fn is_leaf_text_element(&self) -> bool {
        !self.has_children && !matches!(self.name.as_str(), "script" | "style" | "title" | "textarea")
    }
}

fn decode(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

fn attributes(mut rest: &str) -> Vec<(String, String)> {
    let mut attrs = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest == "/" {
            return attrs;
        }
        let end = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let name = rest[..end].to_ascii_lowercase();
        rest = &rest[end..];
        if let Some(after) = rest.strip_prefix('=') {
            let (value, tail) = match after.strip_prefix('"') {
                Some(quoted) => match quoted.split_once('"') {
                    Some((v, tail)) => (v, tail),
                    None => (quoted, ""),
                },
                None => after.split_at(after.find(char::is_whitespace).unwrap_or(after.len())),
            };
            attrs.push((name, decode(value)));
            rest = tail;
        } else {
            attrs.push((name, String::new()));
        }
    }
}

/// Every element of `html`, in document order.
pub fn parse(html: &str) -> Vec<Element> {
    let mut done: Vec<Element> = Vec::new();
    // Open elements: their index in `done`.
    let mut open: Vec<usize> = Vec::new();
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            add_text(&mut done, &open, rest);
            break;
        };
        add_text(&mut done, &open, &rest[..lt]);
        rest = &rest[lt..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.split_once("-->").map_or("", |(_, r)| r);
            continue;
        }
        let Some(gt) = rest.find('>') else { break };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            if let Some(pos) = open.iter().rposition(|&i| done[i].name == name) {
                open.truncate(pos);
            }
            continue;
        }
        let end = tag.find(|c: char| c.is_whitespace() || c == '/').unwrap_or(tag.len());
        let name = tag[..end].to_ascii_lowercase();
        for &i in &open {
            done[i].has_children = true;
        }
        let inside = open.iter().map(|&i| done[i].name.clone()).collect();
        done.push(Element { name: name.clone(), attrs: attributes(&tag[end..]), text: String::new(), has_children: false, inside });
        if !VOID.contains(&name.as_str()) && !tag.ends_with('/') {
            open.push(done.len() - 1);
            if name == "script" {
                // A script's body is text up to its closing tag.
                let close = rest.find("</script>").unwrap_or(rest.len());
                add_text(&mut done, &open, &rest[..close]);
                rest = &rest[close..];
            }
        }
    }
    for e in &mut done {
        e.text = e.text.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    done
}

fn add_text(done: &mut [Element], open: &[usize], text: &str) {
    if text.is_empty() {
        return;
    }
    let text = decode(text);
    for &i in open {
        done[i].text.push_str(&text);
    }
}

#[test]
fn elements_carry_their_attributes_text_and_ancestors() {
    let doc = parse(r#"<!doctype html><p id="a" hidden>Hi <b class=x>there</b><!-- no --></p><label>Name <input id=n></label>"#);
    let names: Vec<&str> = doc.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["p", "b", "label", "input"]);
    assert_eq!(doc[0].attr("id"), Some("a"));
    assert_eq!(doc[0].attr("hidden"), Some(""));
    assert_eq!(doc[0].text, "Hi there");
    assert!(doc[0].has_children && !doc[1].has_children);
    assert_eq!(doc[1].attr("class"), Some("x"));
    assert_eq!(doc[3].inside, ["label"]);
    assert_eq!(doc[2].text, "Name");
}

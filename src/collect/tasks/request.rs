//! Which tag a task is about, read from its request.
//!
//! `task` has no tag column. A task's `request` is its XML-RPC argument list, and for some
//! methods one positional argument names a tag (newRepo, tagBuild, ...) or a build target
//! (build, image, ...), whose destination tag is the answer. Only top-level tasks are parsed;
//! subtasks take their top-level task's tag. The parser is deliberately small: it walks the
//! `<param>` elements and reads a scalar, or the `name`/`id` member of a struct (Koji 1.35 passes
//! tags as `{id, name}`). Anything it does not understand gives no tag rather than an error.

/// What a method's argument at a position names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    Tag,
    Target,
}

/// Methods whose request names a tag or a build target, with the argument's position.
pub const TAG_METHODS: [(&str, usize, Names); 17] = [
    ("build", 1, Names::Target),
    ("chainbuild", 1, Names::Target),
    ("maven", 1, Names::Target),
    ("wrapperRPM", 1, Names::Target),
    ("winbuild", 2, Names::Target),
    ("image", 3, Names::Target),
    ("livecd", 3, Names::Target),
    ("appliance", 3, Names::Target),
    ("livemedia", 3, Names::Target),
    ("newRepo", 0, Names::Tag),
    ("distRepo", 0, Names::Tag),
    ("waitrepo", 0, Names::Tag),
    ("tagBuild", 0, Names::Tag),
    ("tagNotification", 2, Names::Tag),
    ("buildSRPMFromSCM", 1, Names::Tag),
    ("rebuildSRPM", 1, Names::Tag),
    ("buildMaven", 1, Names::Tag),
];

/// The method names of [`TAG_METHODS`], for the SQL that fetches requests only for them.
pub fn tag_method_names() -> Vec<String> {
    TAG_METHODS.iter().map(|(method, _, _)| (*method).to_owned()).collect()
}

/// A tag or target as the request gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    TagName(String),
    TagId(i32),
    TargetName(String),
}

/// The tag or target a top-level task's request names, if its method has one.
pub fn reference(method: &str, request: &str) -> Option<Reference> {
    let (_, position, names) = TAG_METHODS.iter().find(|(name, _, _)| *name == method)?;
    let value = nth_param(request, *position)?;
    match (names, value) {
        (Names::Tag, Scalar::Text(name)) => Some(Reference::TagName(name)),
        (Names::Tag, Scalar::Int(id)) => Some(Reference::TagId(id)),
        (Names::Target, Scalar::Text(name)) => Some(Reference::TargetName(name)),
        (Names::Target, Scalar::Int(_)) => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Scalar {
    Text(String),
    Int(i32),
}

/// The value of the `index`-th top-level parameter, when it is a string, an integer, or a
/// struct with a `name` (preferred) or `id` member.
fn nth_param(request: &str, index: usize) -> Option<Scalar> {
    let params = between(request, "<params>", "</params>")?;
    let param = params.split("<param>").skip(1).nth(index)?;
    let param = param.split("</param>").next()?;
    let value = between(param, "<value>", "</value>")?;
    if value.trim_start().starts_with("<struct>") {
        let whole = param.split_once("<value>")?.1;
        return struct_member(whole, "name").or_else(|| struct_member(whole, "id"));
    }
    scalar(value)
}

fn scalar(value: &str) -> Option<Scalar> {
    let value = value.trim();
    if !value.starts_with('<') {
        return Some(Scalar::Text(unescape(value)));
    }
    for tag in ["string", "name"] {
        if let Some(text) = between(value, &format!("<{tag}>"), &format!("</{tag}>")) {
            return Some(Scalar::Text(unescape(text)));
        }
    }
    if value == "<string/>" {
        return Some(Scalar::Text(String::new()));
    }
    for tag in ["int", "i4", "i8"] {
        if let Some(number) = between(value, &format!("<{tag}>"), &format!("</{tag}>")) {
            return number.trim().parse().ok().map(Scalar::Int);
        }
    }
    None
}

fn struct_member(text: &str, member: &str) -> Option<Scalar> {
    let marker = format!("<name>{member}</name>");
    let after = text.split_once(&marker)?.1;
    scalar(between(after, "<value>", "</value>")?)
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: &str, params: &[&str]) -> String {
        let params: String = params.iter().map(|p| format!("<param>\n<value>{p}</value>\n</param>\n")).collect();
        format!(
            "<?xml version='1.0'?>\n<methodCall>\n<methodName>{method}</methodName>\n<params>\n{params}</params>\n</methodCall>\n"
        )
    }

    #[test]
    fn targets_and_tags_are_read_from_their_positions() {
        let build = call(
            "build",
            &["<string>git+https://src/rpms/foo#abc</string>", "<string>f40-candidate</string>", "<struct></struct>"],
        );
        assert_eq!(reference("build", &build), Some(Reference::TargetName("f40-candidate".into())));
        let new_repo = call("newRepo", &["<string>f40-build</string>", "<nil/>"]);
        assert_eq!(reference("newRepo", &new_repo), Some(Reference::TagName("f40-build".into())));
        let tag_build = call("tagBuild", &["<int>42</int>", "<int>7</int>"]);
        assert_eq!(reference("tagBuild", &tag_build), Some(Reference::TagId(42)));
        let bare = call("newRepo", &["f40&amp;co"]);
        assert_eq!(reference("newRepo", &bare), Some(Reference::TagName("f40&co".into())));
        let image = call(
            "image",
            &[
                "<string>n</string>",
                "<string>1</string>",
                "<array><data></data></array>",
                "<string>img-target</string>",
            ],
        );
        assert_eq!(reference("image", &image), Some(Reference::TargetName("img-target".into())));
    }

    #[test]
    fn koji_1_35_passes_tags_as_structs() {
        let request = call(
            "newRepo",
            &[
                "<struct>\n<member>\n<name>id</name>\n<value><int>12</int></value>\n</member>\n<member>\n<name>name</name>\n<value><string>el9-build</string></value>\n</member>\n</struct>",
            ],
        );
        assert_eq!(reference("newRepo", &request), Some(Reference::TagName("el9-build".into())));
        let id_only =
            call("newRepo", &["<struct><member><name>id</name><value><int>12</int></value></member></struct>"]);
        assert_eq!(reference("newRepo", &id_only), Some(Reference::TagId(12)));
    }

    #[test]
    fn other_methods_and_garbage_give_no_tag() {
        assert_eq!(reference("buildArch", &call("buildArch", &["<string>x</string>", "<int>3</int>"])), None);
        assert_eq!(reference("build", "not xml at all"), None);
        assert_eq!(reference("build", &call("build", &["<string>only one</string>"])), None);
        assert_eq!(
            reference("tagNotification", &call("tagNotification", &["<array/>", "<boolean>1</boolean>", "<nil/>"])),
            None
        );
    }
}

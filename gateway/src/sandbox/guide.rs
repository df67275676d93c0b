//! The guide the sandbox prints at start: the journey's steps as commands to paste into a shell.

use super::DATA_DIR;
use super::accounts::DemoAccount;
use super::journey::{Action, Body, Method, Party, steps};
use crate::config::{Config, Role};

/// Commands are the lines indented by exactly this much, so they can be picked out of the text.
pub const INDENT: &str = "   ";

/// The guide's last line.
pub const LAST_LINE: &str = "Stop with Ctrl-C.";

/// A JSON pointer (`/entry/0/resource/id`) as a jq path (`.entry[0].resource.id`).
fn jq_path(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').skip(1) {
        if part.chars().all(|c| c.is_ascii_digit()) && !part.is_empty() {
            out.push_str(&format!("[{part}]"));
        } else {
            out.push('.');
            out.push_str(part);
        }
    }
    if out.is_empty() { ".".into() } else { out }
}

/// Single-quotes a string for the shell.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Shows `fields` of an answer, or the whole OperationOutcome when the request was refused.
fn show_filter(fields: &[(&str, &str)]) -> String {
    if fields.is_empty() {
        return "jq .".into();
    }
    let object: Vec<String> = fields
        .iter()
        .map(|(label, pointer)| format!("{label}: {}", jq_path(pointer)))
        .collect();
    format!(
        "jq 'if .resourceType == \"OperationOutcome\" then . else {{{}}} end'",
        object.join(", ")
    )
}

fn token_command(party: &Party, exe: &str, token_url: &str) -> String {
    format!(
        "{}=$({exe} token --client {client} --key {DATA_DIR}/keys/{client}.pem --scope '{}' --token-url {token_url})",
        party.token_var,
        party.scope,
        client = party.client
    )
}

fn request_command(
    base: &str,
    party: &Party,
    method: Method,
    path: &str,
    body: &Body,
    capture: Option<(&str, &str)>,
    show: &[(&str, &str)],
) -> String {
    let mut curl = String::from("curl -s ");
    if method == Method::Post {
        curl.push_str("-X POST ");
    }
    curl.push_str(&format!(
        "\"{base}{path}\" -H \"Authorization: Bearer ${}\"",
        party.token_var
    ));
    let mut before = String::new();
    match body {
        Body::Empty => {}
        Body::Resource(file) => curl.push_str(&format!(
            " -H 'Content-Type: application/fhir+json' --data @{DATA_DIR}/{file}"
        )),
        Body::Onward {
            based_on,
            performer: (ods, name),
        } => {
            let performer = super::journey::performer_json((ods, name));
            before = format!(
                "jq --arg sr \"ServiceRequest/${based_on}\" '.basedOn = [{{reference: $sr}}] | .performer = {performer}' {DATA_DIR}/{} | ",
                super::examples::ONWARD_REFERRAL
            );
            curl.push_str(" -H 'Content-Type: application/fhir+json' --data @-");
        }
        Body::OnwardToService { based_on, service } => {
            before = format!(
                "jq --arg sr \"ServiceRequest/${based_on}\" --arg hs \"HealthcareService/${service}\" '.basedOn = [{{reference: $sr}}] | .performer = [{{reference: $hs}}]' {DATA_DIR}/{} | ",
                super::examples::ONWARD_REFERRAL
            );
            curl.push_str(" -H 'Content-Type: application/fhir+json' --data @-");
        }
        Body::PatchFile(_) | Body::Patch(_) => {}
    }
    match capture {
        Some((var, pointer)) => format!(
            "{var}=$({before}{curl} | jq -r '{} // error(.)') && echo \"{var}=${var}\"",
            jq_path(pointer)
        ),
        None => format!("{before}{curl} | {}", show_filter(show)),
    }
}

fn patch_body(body: &Body) -> String {
    match body {
        Body::Patch(patch) => quoted(&patch.to_string()),
        Body::PatchFile(file) => format!("@{DATA_DIR}/{file}"),
        Body::Empty | Body::Resource(_) | Body::Onward { .. } | Body::OnwardToService { .. } => {
            "''".into()
        }
    }
}

/// The shell function the Task updates use: read the Task's version, send the patch with it.
fn patch_task_function(base: &str) -> String {
    format!(
        "patch_task() {{ curl -s -X PATCH \"{base}/fhir/Task/$2\" -H \"Authorization: Bearer $1\" \
         -H 'Content-Type: application/json-patch+json' \
         -H \"If-Match: W/\\\"$(curl -s -H \"Authorization: Bearer $1\" \"{base}/fhir/Task/$2\" | jq -r .meta.versionId)\\\"\" \
         --data \"$3\" | {}; }}",
        show_filter(&[
            ("id", "/id"),
            ("status", "/status"),
            ("version", "/meta/versionId")
        ])
    )
}

/// The shell command for one action.
pub fn command(action: &Action, base: &str, exe: &str, token_url: &str) -> String {
    match action {
        Action::Token(party) => token_command(party, exe, token_url),
        Action::Request {
            party,
            method,
            path,
            body,
            capture,
            show,
        } => request_command(base, party, *method, path, body, *capture, show),
        Action::Refused {
            party,
            path,
            body,
            show,
        } => request_command(base, party, Method::Post, path, body, None, show),
        Action::PatchTask { party, task, body } => format!(
            "patch_task \"${}\" \"${task}\" {}",
            party.token_var,
            patch_body(body)
        ),
        Action::Pause(d) => format!("sleep {}", d.as_secs().max(1)),
    }
}

/// Wraps a paragraph at about 96 columns.
fn wrap(text: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.len() > 96 {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

fn role_text(role: Role) -> &'static str {
    match role {
        Role::Gp => "GP practice",
        Role::LinkWorker => "link-worker service",
        Role::Vcs => "VCS provider",
    }
}

/// The guide printed at start: ready-to-paste commands against this sandbox, and the console's
/// demo sign-ins. `exe` is this program's path.
pub fn guide(config: &Config, exe: &str, accounts: &[DemoAccount]) -> String {
    let base = config.server.base_url.trim_end_matches('/');
    let token_url = format!("{base}/auth/token");
    let mut out = format!(
        "\nSignpost sandbox is running at {base} (FHIR base {base}/fhir)\n\
         Store: {}   (delete {DATA_DIR}/ to start afresh)\n\n\
         Demo organisations (ODS code, name, role, how Signpost reaches it):\n",
        config.store.url
    );
    for org in &config.organisations {
        let reached = match &org.adapter {
            Some(a) => format!("pushed to by {} (a demo receiver in the sandbox)", a.kind),
            None => "polls Signpost".into(),
        };
        out.push_str(&format!(
            "  {:<7} {:<38} {:<20} {reached}\n",
            org.ods,
            org.name,
            role_text(org.role)
        ));
    }
    out.push_str(&format!(
        "\nThe web console, for people without an integration: {base}/console\n\
         Demo sign-ins (email, password, role, organisation; kept in {DATA_DIR}/{}):\n",
        super::accounts::FILE
    ));
    for a in accounts {
        out.push_str(&format!(
            "  {:<34} {:<24} {:<12} {}\n",
            a.email,
            a.password,
            a.role.code(),
            a.organisation
        ));
    }
    out.push_str(&format!(
        "\nThe whole journey, as commands to paste into bash or zsh in this directory (they need curl\n\
         and jq). `{exe} sandbox tour` runs the same steps itself and prints every request and answer.\n\n\
         First, a helper for Task updates: it reads the Task's current version and sends a JSON Patch\n\
         with it in If-Match, as Signpost requires of every update:\n\n\
         {INDENT}{}\n",
        patch_task_function(base)
    ));
    for (n, step) in steps(config).iter().enumerate() {
        out.push_str(&format!("\n{}. {}\n", n + 1, step.title));
        if let Some(note) = &step.note {
            out.push_str(&wrap(note));
            out.push('\n');
        }
        out.push('\n');
        for action in &step.actions {
            out.push_str(INDENT);
            out.push_str(&command(action, base, exe, &token_url));
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "\nWhat this server offers (no token needed):\n\n{INDENT}curl -s {base}/fhir/metadata | jq '{{software, fhirVersion}}'\n\n{LAST_LINE}\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_pointers_become_jq_paths() {
        assert_eq!(jq_path("/entry/0/resource/id"), ".entry[0].resource.id");
        assert_eq!(jq_path("/id"), ".id");
        assert_eq!(jq_path(""), ".");
    }

    #[test]
    fn the_guide_gives_the_console_address_and_each_demo_sign_in_but_not_as_a_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join(DATA_DIR);
        super::super::prepare_files_in(&data).expect("files");
        let toml = super::super::sandbox_toml("http://127.0.0.1:8080")
            .replace("signpost-data/", &format!("{}/", data.display()));
        let config = Config::from_toml(&toml, |_| None).expect("valid");
        let accounts = super::super::accounts::prepare(&data).expect("accounts");
        let text = guide(&config, "signpost", &accounts);
        assert!(text.contains("http://127.0.0.1:8080/console"), "{text}");
        for a in &accounts {
            let line = text
                .lines()
                .find(|l| l.contains(a.email))
                .unwrap_or_else(|| panic!("{} not in the guide", a.email));
            assert!(
                line.contains(&a.password) && line.contains(a.role.code()),
                "{line}"
            );
            // Lines indented by exactly INDENT are the commands a reader pastes.
            assert!(!line.starts_with(INDENT), "{line}");
        }
    }

    #[test]
    fn single_quotes_survive_shell_quoting() {
        assert_eq!(quoted("it's"), r"'it'\''s'");
    }
}

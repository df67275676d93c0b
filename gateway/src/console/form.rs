//! NHS design system form controls that keep what was entered and show their error: the pieces
//! the console's forms are built from (labels tied to inputs, hints and errors in
//! `aria-describedby`, ids the error summary links to).

use maud::{Markup, html};

use super::page::FieldError;

fn error_for<'a>(errors: &'a [FieldError], id: &str) -> Option<&'a FieldError> {
    errors.iter().find(|e| e.field == id)
}

fn described_by(id: &str, hint: bool, error: bool) -> Option<String> {
    let ids: Vec<String> = [
        hint.then(|| format!("{id}-hint")),
        error.then(|| format!("{id}-error")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!ids.is_empty()).then(|| ids.join(" "))
}

fn error_message(id: &str, error: Option<&FieldError>) -> Markup {
    html! {
        @if let Some(e) = error {
            span class="nhsuk-error-message" id={ (id) "-error" } {
                span class="nhsuk-u-visually-hidden" { "Error: " } (e.message)
            }
        }
    }
}

fn group_class(error: bool) -> &'static str {
    if error {
        "nhsuk-form-group nhsuk-form-group--error"
    } else {
        "nhsuk-form-group"
    }
}

/// A labelled control in its form group, with its hint and error above it, as the NHS design
/// system lays out every single-control question.
fn labelled(
    id: &str,
    label: &str,
    hint: Option<&str>,
    error: Option<&FieldError>,
    control: Markup,
) -> Markup {
    html! {
        div class=(group_class(error.is_some())) {
            label class="nhsuk-label" for=(id) { (label) }
            @if let Some(hint) = hint { div class="nhsuk-hint" id={ (id) "-hint" } { (hint) } }
            (error_message(id, error))
            (control)
        }
    }
}

/// A text input for a whole number, with its value kept; posted as `id`.
pub fn number(
    id: &str,
    label: &str,
    hint: Option<&str>,
    value: &str,
    errors: &[FieldError],
) -> Markup {
    number_named(id, id, label, hint, value, errors)
}

/// [`number`] with an id of its own (several forms on one page post the same `name`).
pub fn number_named(
    id: &str,
    name: &str,
    label: &str,
    hint: Option<&str>,
    value: &str,
    errors: &[FieldError],
) -> Markup {
    let error = error_for(errors, id);
    let control = html! {
        input class={ "nhsuk-input nhsuk-input--width-3" @if error.is_some() { " nhsuk-input--error" } }
            id=(id) name=(name) type="text" inputmode="numeric" spellcheck="false" value=(value)
            aria-describedby=[described_by(id, hint.is_some(), error.is_some())];
    };
    labelled(id, label, hint, error, control)
}

/// A date input (the browser's own picker; posts `YYYY-MM-DD`), with its value kept.
pub fn date(
    id: &str,
    label: &str,
    hint: Option<&str>,
    value: &str,
    errors: &[FieldError],
) -> Markup {
    let error = error_for(errors, id);
    let control = html! {
        input class={ "nhsuk-input nhsuk-input--width-10" @if error.is_some() { " nhsuk-input--error" } }
            id=(id) name=(id) type="date" value=(value)
            aria-describedby=[described_by(id, hint.is_some(), error.is_some())];
    };
    labelled(id, label, hint, error, control)
}

/// A multi-line text box, with its value kept.
pub fn textarea(
    id: &str,
    label: &str,
    hint: Option<&str>,
    value: &str,
    errors: &[FieldError],
) -> Markup {
    let error = error_for(errors, id);
    let control = html! {
        textarea class={ "nhsuk-textarea" @if error.is_some() { " nhsuk-textarea--error" } }
            id=(id) name=(id) rows="3"
            aria-describedby=[described_by(id, hint.is_some(), error.is_some())] { (value) }
    };
    labelled(id, label, hint, error, control)
}

/// A drop-down of (value, label) options; `""` is the unanswered choice.
pub fn select(
    id: &str,
    label: &str,
    options: &[(&str, &str)],
    selected: &str,
    errors: &[FieldError],
) -> Markup {
    let error = error_for(errors, id);
    let control = html! {
        select class={ "nhsuk-select" @if error.is_some() { " nhsuk-select--error" } } id=(id) name=(id)
            aria-describedby=[described_by(id, false, error.is_some())] {
            @for (value, text) in options {
                option value=(value) selected[*value == selected] { (text) }
            }
        }
    };
    labelled(id, label, None, error, control)
}

/// Radios in a fieldset: the first item's id is the group's `name`, so the error summary links to it.
pub fn radios(
    name: &str,
    legend: &str,
    items: &[(&str, &str)],
    checked: &str,
    errors: &[FieldError],
) -> Markup {
    radios_named(name, name, legend, items, checked, errors)
}

/// [`radios`] whose ids start with `id` rather than the posted `name`.
pub fn radios_named(
    id: &str,
    name: &str,
    legend: &str,
    items: &[(&str, &str)],
    checked: &str,
    errors: &[FieldError],
) -> Markup {
    let error = error_for(errors, id);
    html! {
        div class=(group_class(error.is_some())) {
            fieldset class="nhsuk-fieldset" aria-describedby=[described_by(id, false, error.is_some())] {
                legend class="nhsuk-fieldset__legend nhsuk-fieldset__legend--s" { (legend) }
                (error_message(id, error))
                div class="nhsuk-radios" {
                    @for (i, (value, label)) in items.iter().enumerate() {
                        @let id = if i == 0 { id.to_owned() } else { format!("{id}-{}", i + 1) };
                        div class="nhsuk-radios__item" {
                            input class="nhsuk-radios__input" id=(id) name=(name) type="radio"
                                value=(value) checked[*value == checked];
                            label class="nhsuk-label nhsuk-radios__label" for=(id) { (label) }
                        }
                    }
                }
            }
        }
    }
}

//! The NHS design system's responsive table: each cell labelled with its column on a phone.

use maud::{Markup, html};

/// A table whose cells carry their column's name for narrow screens.
pub fn table(caption: &str, headers: &[&str], rows: &[Vec<Markup>]) -> Markup {
    html! {
        table class="nhsuk-table nhsuk-table--responsive" {
            caption class="nhsuk-table__caption" { (caption) }
            thead class="nhsuk-table__head" role="rowgroup" {
                tr role="row" {
                    @for h in headers {
                        th role="columnheader" class="nhsuk-table__header" scope="col" { (h) }
                    }
                }
            }
            tbody class="nhsuk-table__body" {
                @for row in rows {
                    tr role="row" class="nhsuk-table__row" {
                        @for (h, cell) in headers.iter().zip(row) {
                            td role="cell" class="nhsuk-table__cell" {
                                span class="nhsuk-table-responsive__heading" aria-hidden="true" { (h) " " }
                                (cell)
                            }
                        }
                    }
                }
            }
        }
    }
}

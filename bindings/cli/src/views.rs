//! Views for people that more than one command prints: the consent view of a presentation
//! request, an offer, the overview, a helper's presentation, the QR for a payload.

use kluis_core::delegation::{HelperOverview, MandateState, SourceOrigin};
use kluis_core::issuance::OfferPreview;
use kluis_core::openid4vp::{
    CandidateStatus, Flag, PresentationChoice, PresentationRequest, Transaction,
};
use kluis_core::overview::{IncomeKind, Overview, OverviewWarning};
use kluis_core::qr::render::{Ec, Qr};
use kluis_core::sdjwt::VerifiedPresentation;

use crate::output::{date, CliError};

fn flag_text(f: Flag) -> &'static str {
    match f {
        Flag::Unregistered => "the party is NOT registered in the scheme",
        Flag::OutsideRegistration => {
            "it asks claims or credentials outside its registration for this purpose (left out)"
        }
        Flag::LongerRetention => "it states a longer retention than it registered",
        Flag::UnknownPurpose => "it states no registered purpose",
        Flag::NothingMatches => "nothing in your wallet answers what is required",
        Flag::StaleCredentials => "some credentials were not status-checked in the last 24 h",
        Flag::InvalidCredentials => "some credentials are revoked, suspended or expired",
        Flag::UnsupportedFormats => "it also asks formats this wallet does not hold",
    }
}

fn status_text(s: CandidateStatus) -> &'static str {
    match s {
        CandidateStatus::Valid => "valid",
        CandidateStatus::Stale => "not recently checked",
        CandidateStatus::Revoked => "REVOKED",
        CandidateStatus::Suspended => "SUSPENDED",
        CandidateStatus::Expired => "EXPIRED",
    }
}

/// The screen the citizen sees before deciding (no claim values: those stay in the wallet).
pub fn describe(req: &PresentationRequest, choice: &PresentationChoice) -> Vec<String> {
    let mut out = Vec::new();
    let name = req.party.name.as_deref().unwrap_or("(unknown party)");
    out.push(format!(
        "{name} ({}) {}",
        req.party.client_id,
        if req.party.registered {
            "— registered in the scheme"
        } else {
            "— NOT registered in the scheme"
        }
    ));
    let purpose = req
        .purpose
        .as_ref()
        .map(|p| p.name.clone())
        .or_else(|| req.stated_purpose.clone())
        .unwrap_or_else(|| "(no purpose stated)".into());
    let registered = req.purpose.as_ref().and_then(|p| p.retention_days);
    out.push(format!(
        "asks for: {purpose}; keeps the data {} (registered: {})",
        req.retention_days
            .map(|d| format!("{d} days"))
            .unwrap_or_else(|| "for an unstated time".into()),
        registered
            .map(|d| format!("{d} days"))
            .unwrap_or_else(|| "none".into())
    ));
    // What accepting confirms comes before what is shared: it is the point of this answer.
    for t in &req.transactions {
        match &t.transaction {
            Transaction::MortgageOffer {
                offer_id,
                document_label,
                document_sha256,
                amount_eur_cents,
            } => {
                out.push(format!(
                    "YOU CONFIRM the mortgage offer {offer_id}: {} — {document_label} (document SHA-256 {document_sha256}), signed with your {} credential",
                    euro(i64::try_from(*amount_eur_cents).unwrap_or(i64::MAX)),
                    t.confirmed_with.join(" or ")
                ));
            }
        }
    }
    for q in &req.queries {
        let chosen = choice.queries.get(&q.query_id);
        out.push(format!(
            "  {} ({}{}):",
            q.query_id,
            if q.required { "required" } else { "optional" },
            if chosen.is_some() {
                ", will be shared"
            } else {
                ", not shared"
            }
        ));
        for c in &q.claims {
            let shared = chosen.is_some_and(|x| x.claims.contains(&c.path));
            out.push(format!(
                "    [{}] {}{}{}",
                if shared { "x" } else { " " },
                c.label.as_deref().unwrap_or(&c.path),
                if c.label.is_some() {
                    format!(" ({})", c.path)
                } else {
                    String::new()
                },
                if c.within_registration {
                    ""
                } else {
                    "  — outside its registration"
                }
            ));
        }
        if q.candidates.is_empty() {
            out.push("    no credential in your wallet answers this".into());
        }
        for c in &q.candidates {
            let picked = chosen.is_some_and(|x| x.credential_ids.contains(&c.credential_id));
            out.push(format!(
                "    {} from {}: {} [{}] {}",
                if picked { "->" } else { "  " },
                c.issuer,
                c.title.as_deref().unwrap_or(&c.vct),
                status_text(c.status),
                c.credential_id
            ));
            // Always-visible claims leave with any answer from this credential: listed so the
            // screen shows everything that leaves.
            if !c.always_shared.is_empty() {
                out.push(format!(
                    "       [{}] always shared with this credential: {}",
                    if picked { "x" } else { " " },
                    c.always_shared.join(", ")
                ));
            }
            if !c.within_registration {
                out.push(
                    "       — this credential is outside its registration (not shared by default)"
                        .into(),
                );
            }
        }
    }
    for f in &req.flags {
        out.push(format!("  ! {}", flag_text(*f)));
    }
    out
}

/// Euro cents the Dutch way: `€ 1.234,56`.
pub fn euro(cents: i64) -> String {
    let (sign, cents) = if cents < 0 {
        ("-", -cents)
    } else {
        ("", cents)
    };
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push('.');
        }
        grouped.push(c);
    }
    format!("{sign}€ {grouped},{:02}", cents % 100)
}

/// The human lines describing an offer (shown before anything is stored).
pub fn describe_offer(p: &OfferPreview) -> Vec<String> {
    let mut out = Vec::new();
    let who = p
        .registered_name
        .clone()
        .or_else(|| p.issuer_name.clone())
        .unwrap_or_else(|| p.issuer.clone());
    let trust = if p.listed_in_scheme {
        "listed in the scheme"
    } else if p.trusted_by_hand {
        "trusted by hand"
    } else {
        "NOT listed in the scheme"
    };
    out.push(format!("{who} ({}, {trust}) offers:", p.issuer));
    for c in &p.credentials {
        out.push(format!(
            "  - {}{}",
            c.name.as_deref().unwrap_or(&c.vct),
            if c.listed || p.trusted_by_hand {
                ""
            } else {
                "  [type not listed for this holder]"
            }
        ));
    }
    out
}

/// Prints the integrated overview for people.
pub fn print_overview(o: &Overview) {
    print_figures(o);
    if o.credentials.is_empty() {
        println!("No credentials yet: collect some with `kluis collect OFFER_URI`.");
    }
}

/// Prints the helper's overview: one section per client, each source with its age.
pub fn print_helper_overview(h: &HelperOverview) {
    for c in &h.clients {
        println!("== {} (mandate {})", c.label, c.mandate_id);
        print_figures(&c.overview);
        println!("Sources:");
        for s in &c.sources {
            let origin = match s.origin {
                SourceOrigin::Packaged => "packaged by the citizen",
                SourceOrigin::Collected => "collected under the mandate",
            };
            println!(
                "  {:<44} {:<40} {origin}, {} old",
                s.vct,
                s.issuer,
                age(s.age_secs)
            );
        }
        for f in &c.refresh_failures {
            println!("Note: {} was not refreshed: {}", f.issuer, f.detail);
        }
    }
    for l in &h.left_out {
        let why = if l.view_allowed {
            match l.state {
                MandateState::Revoked => "the mandate was revoked (package dropped)",
                MandateState::Expired => "the mandate expired (package dropped)",
                MandateState::NotYetValid => "the mandate is not valid yet",
                MandateState::Unknown => "the mandate's status could not be checked",
                MandateState::Active => "active",
            }
            .to_string()
        } else {
            "the mandate does not allow view".to_string()
        };
        println!("Left out: {} (mandate {}): {why}", l.label, l.mandate_id);
    }
    if h.clients.is_empty() && h.left_out.is_empty() {
        println!("No mandates received yet: accept one with `kluis accept-mandate FILE`.");
    }
}

/// An age in seconds, for people: minutes, hours or days.
fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

fn print_figures(o: &Overview) {
    println!(
        "Debts to the government: {} in total",
        euro(o.debts.total_cents)
    );
    for l in &o.debts.lines {
        let mut extra = Vec::new();
        if let Some(m) = l.monthly_payment_cents {
            extra.push(format!("{} per month", euro(m)));
        }
        if let Some(a) = l.payment_arrangement {
            extra.push(if a {
                "payment arrangement".to_string()
            } else {
                "no payment arrangement".to_string()
            });
        }
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!("  ({})", extra.join(", "))
        };
        println!(
            "  {:<40} {:<34} {:>14}{extra}",
            l.holder,
            l.kind,
            euro(l.amount_cents)
        );
    }
    if !o.income.is_empty() {
        println!("Income:");
        for i in &o.income {
            let kind = match i.kind {
                IncomeKind::GrossIncome => "gross income",
                IncomeKind::TaxableIncomeBox1 => "taxable income (box 1)",
            };
            println!(
                "  {:<40} {:<22} {:<6} {:>14}",
                i.holder,
                kind,
                i.year.map(|y| y.to_string()).unwrap_or_default(),
                euro(i.amount_cents)
            );
        }
    }
    if let Some(a) = &o.address {
        println!(
            "Address: {}, {} {}{}",
            a.street,
            a.postal_code,
            a.locality,
            a.registered_since
                .as_ref()
                .map(|s| format!(" (since {s})"))
                .unwrap_or_default()
        );
    }
    for v in &o.vehicles {
        println!(
            "Vehicle: {} {}{}",
            v.license_plate,
            v.description,
            v.first_registration
                .as_ref()
                .map(|d| format!(" (first registered {d})"))
                .unwrap_or_default()
        );
    }
    if let Some(l) = &o.driving_licence {
        println!(
            "Driving licence: {}{}",
            l.categories.join(", "),
            l.expiry_date
                .as_ref()
                .map(|d| format!(", valid until {d}"))
                .unwrap_or_default()
        );
    }
    for warn in &o.warnings {
        println!("Note: {}", warning_text(warn));
    }
}

/// An overview warning in English (the CLI's language; apps word the code themselves).
pub fn warning_text(w: &OverviewWarning) -> String {
    match w {
        OverviewWarning::LeftOut {
            type_name,
            holder,
            state,
            ..
        } => format!(
            "{type_name} ({holder}) is {}: left out of the overview",
            state.as_str()
        ),
        OverviewWarning::Unreadable {
            type_name, holder, ..
        } => format!("{type_name} ({holder}) cannot be read: left out of the overview"),
    }
}

/// A sentence for people when a helper presented.
pub fn on_behalf_text(v: &VerifiedPresentation) -> Option<String> {
    v.on_behalf.as_ref().map(|o| {
        format!(
            "Presented by a helper acting for the citizen: mandate {}, helper key {}, valid until {}.",
            o.mandate_id,
            o.helper_thumbprint,
            date(Some(o.mandate_expires_at))
        )
    })
}

/// The smallest QR for `payload`, at level M when it fits, else L (said on stderr).
pub fn code_for(payload: &str) -> Result<Qr, CliError> {
    Qr::new(payload, Ec::M)
        .or_else(|_| Qr::new(payload, Ec::L))
        .map_err(|_| CliError::other("the payload is too large for any QR code"))
}

#[cfg(test)]
mod tests {
    use super::euro;

    #[test]
    fn euros_are_written_the_dutch_way() {
        assert_eq!(euro(2_341_877), "€ 23.418,77");
        assert_eq!(euro(0), "€ 0,00");
        assert_eq!(euro(123_456_750), "€ 1.234.567,50");
        assert_eq!(euro(-1_230), "-€ 12,30");
    }
}

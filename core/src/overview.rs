//! One integrated overview across holders (the Blauwe Knop "Centraal" idea): total debts to the
//! government with a line per holder, income, address, vehicles and driving licence.
//!
//! Typed views are built from the verified claims of the newest credential of each type, with
//! labels from type metadata. A credential found revoked, suspended or expired at the last status
//! check is left out of totals and named in `warnings` (codes with parameters: the app or CLI
//! words them in its language). Amounts are integer euro cents: the claims' decimal euros are
//! rounded to the cent once, when read.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::status::CredentialState;
use crate::{CredentialSummary, Error, Wallet};

/// Debt-bearing credential types and where their amount is.
const DEBTS: &[(&str, &str)] = &[
    ("urn:nl:duo:student-debt:1", "/debt/total_amount_eur"),
    ("urn:nl:cak:care-arrears:1", "/arrears_eur"),
    ("urn:nl:gemeente:municipal-debts:1", "/total_eur"),
    (
        "urn:nl:belastingdienst:income-assessment:1",
        "/outstanding_tax_debt_eur",
    ),
];

/// Income-bearing types: where the amount and the year are, and what kind of income it is.
const INCOMES: &[(&str, &str, &str, IncomeKind)] = &[
    (
        "urn:nl:uwv:income-statement:1",
        "/total_gross_income_eur",
        "/year",
        IncomeKind::GrossIncome,
    ),
    (
        "urn:nl:belastingdienst:income-assessment:1",
        "/taxable_income_box1_eur",
        "/tax_year",
        IncomeKind::TaxableIncomeBox1,
    ),
];

const ADDRESS: &str = "urn:nl:gemeente:brp-address:1";
const VEHICLES: &str = "urn:nl:rdw:vehicles:1";
const LICENCE: &str = "urn:nl:rdw:driving-licence:1";

/// One holder's line in the debt total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DebtLine {
    /// Holder name (registered in the scheme, else the issuer identifier).
    pub holder: String,
    /// What the debt is (the credential type's display name).
    pub kind: String,
    /// Amount owed, in euro cents.
    pub amount_cents: i64,
    /// The credential it comes from.
    pub credential_id: String,
    /// Monthly payment in euro cents, when the holder states one.
    pub monthly_payment_cents: Option<i64>,
    /// Whether there is a payment arrangement, when the holder states it.
    pub payment_arrangement: Option<bool>,
}

/// Debts to the government.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Debts {
    /// Sum of all lines, in euro cents.
    pub total_cents: i64,
    /// One line per holder and type.
    pub lines: Vec<DebtLine>,
}

/// One income figure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncomeLine {
    /// Holder name.
    pub holder: String,
    /// Which income figure it is.
    pub kind: IncomeKind,
    /// The year it is about.
    pub year: Option<i64>,
    /// Amount in euro cents.
    pub amount_cents: i64,
    /// The credential it comes from.
    pub credential_id: String,
}

/// Which income figure an [`IncomeLine`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncomeKind {
    /// Gross income over the year (UWV income statement).
    GrossIncome,
    /// Taxable income in box 1 (Belastingdienst assessment).
    TaxableIncomeBox1,
}

/// Something the citizen should know about the overview: a code with its parameters, worded by
/// the app (or the CLI) in the citizen's language. No claim values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum OverviewWarning {
    /// The credential was found revoked, suspended or expired at its last status check: its
    /// figures are left out of the overview.
    LeftOut {
        credential_id: String,
        /// The credential type's display name (type metadata, else the `vct`).
        type_name: String,
        /// The holder's registered name, else its issuer identifier.
        holder: String,
        /// What the status check found.
        state: CredentialState,
    },
    /// The stored credential could not be read back (a damaged or tampered record): left out.
    Unreadable {
        credential_id: String,
        /// The credential type's display name (type metadata, else the `vct`).
        type_name: String,
        /// The holder's registered name, else its issuer identifier.
        holder: String,
    },
}

/// The registered address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressView {
    /// Street and house number.
    pub street: String,
    /// Postal code.
    pub postal_code: String,
    /// Place of residence.
    pub locality: String,
    /// Registered there since.
    pub registered_since: Option<String>,
    /// The credential it comes from.
    pub credential_id: String,
}

/// A vehicle registered to the citizen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VehicleView {
    /// Licence plate.
    pub license_plate: String,
    /// Make and model.
    pub description: String,
    /// First registration date.
    pub first_registration: Option<String>,
}

/// The driving licence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenceView {
    /// Categories, e.g. `["AM", "B"]`.
    pub categories: Vec<String>,
    /// Valid until.
    pub expiry_date: Option<String>,
}

/// The integrated overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overview {
    /// Debts to the government, per holder, with the total.
    pub debts: Debts,
    /// Income figures.
    pub income: Vec<IncomeLine>,
    /// Registered address.
    pub address: Option<AddressView>,
    /// Vehicles.
    pub vehicles: Vec<VehicleView>,
    /// Driving licence.
    pub driving_licence: Option<LicenceView>,
    /// Every credential, with its last known status.
    pub credentials: Vec<CredentialSummary>,
    /// Things the citizen should know (revoked, expired or unreadable data left out of totals).
    pub warnings: Vec<OverviewWarning>,
}

fn at<'a>(claims: &'a Value, pointer: &str) -> Option<&'a Value> {
    claims.pointer(pointer)
}

fn text(claims: &Value, pointer: &str) -> Option<String> {
    at(claims, pointer).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A claim's decimal euros as integer cents (rounded half away from zero, once).
fn cents(v: &Value) -> Option<i64> {
    v.as_f64().map(|e| (e * 100.0).round() as i64)
}

/// One credential an overview is built from.
pub(crate) struct Source {
    pub(crate) id: String,
    pub(crate) issuer: String,
    pub(crate) vct: String,
    /// Its last known status (`None`: never checked).
    pub(crate) state: Option<CredentialState>,
    /// Its verified claims; `None`: it could not be read back (or was not opened: left out).
    pub(crate) claims: Option<Value>,
}

/// Whether a credential in this state counts in the figures (revoked, suspended and expired
/// ones are left out and named).
fn counts(state: Option<CredentialState>) -> bool {
    matches!(
        state,
        Some(CredentialState::Valid) | None | Some(CredentialState::Unknown)
    )
}

impl Wallet {
    /// Builds the overview from the stored credentials (newest of each type per issuer), with
    /// names in `lang`.
    pub fn overview(&self, lang: &str) -> Result<Overview, Error> {
        let metadata = self.metadata();
        // Newest credential per (issuer, vct), from the summaries; only those are opened. Found
        // by position, borrowing the summaries' strings: no copies per credential.
        let listed = self.credential_summaries()?;
        let mut all = Vec::with_capacity(listed.len());
        for (id, rec) in listed {
            all.push((id, rec?));
        }
        let mut newest: BTreeMap<(&str, &str), (usize, i64)> = BTreeMap::new();
        for (i, (_, s)) in all.iter().enumerate() {
            let slot = newest
                .entry((s.issuer.as_str(), s.vct.as_str()))
                .or_insert((i, s.imported_at));
            if slot.1 <= s.imported_at {
                *slot = (i, s.imported_at);
            }
        }
        let newest: Vec<((String, String), (String, i64))> = newest
            .into_iter()
            .map(|((issuer, vct), (i, at))| {
                (
                    (issuer.to_string(), vct.to_string()),
                    (all[i].0.clone(), at),
                )
            })
            .collect();
        let credentials: Vec<CredentialSummary> = all
            .into_iter()
            .map(|(id, s)| s.view(id, &metadata, lang))
            .collect();
        let mut sources = Vec::new();
        for ((issuer, vct), (id, _)) in newest {
            let stored = self.stored(&id)?;
            let state = stored.freshness.as_ref().map(|f| f.state);
            // Only what goes into the figures is opened and parsed.
            let claims = if counts(state) {
                self.parsed(&stored).ok().map(|c| c.claims().clone())
            } else {
                None
            };
            sources.push(Source {
                id,
                issuer,
                vct,
                state,
                claims,
            });
        }
        self.assemble_overview(&sources, credentials, lang)
    }

    /// The overview of `sources` (the newest credential of each type per issuer), with names in
    /// `lang`: the citizen's own ([`Wallet::overview`]) or a client's under a mandate (the
    /// helper's overview).
    pub(crate) fn assemble_overview(
        &self,
        sources: &[Source],
        credentials: Vec<CredentialSummary>,
        lang: &str,
    ) -> Result<Overview, Error> {
        let metadata = self.metadata();
        let scheme = self.participant_list()?;
        let mut overview = Overview {
            debts: Debts {
                total_cents: 0,
                lines: Vec::new(),
            },
            income: Vec::new(),
            address: None,
            vehicles: Vec::new(),
            driving_licence: None,
            credentials,
            warnings: Vec::new(),
        };
        for Source {
            issuer,
            vct,
            id,
            state,
            claims,
        } in sources
        {
            let type_name = metadata
                .credential_name(vct, lang)
                .unwrap_or_else(|| vct.clone());
            let holder = scheme
                .as_ref()
                .and_then(|l| l.holder(issuer))
                .map(|h| h.name.get(lang).to_string())
                .unwrap_or_else(|| issuer.clone());
            if let Some(state) = state.filter(|s| !counts(Some(*s))) {
                overview.warnings.push(OverviewWarning::LeftOut {
                    credential_id: id.clone(),
                    type_name,
                    holder,
                    state,
                });
                continue;
            }
            let Some(claims) = claims else {
                overview.warnings.push(OverviewWarning::Unreadable {
                    credential_id: id.clone(),
                    type_name,
                    holder,
                });
                continue;
            };
            if let Some((_, pointer)) = DEBTS.iter().find(|(t, _)| t == vct) {
                if let Some(amount) = at(claims, pointer).and_then(cents) {
                    overview.debts.total_cents += amount;
                    overview.debts.lines.push(DebtLine {
                        holder: holder.clone(),
                        kind: type_name.clone(),
                        amount_cents: amount,
                        credential_id: id.clone(),
                        monthly_payment_cents: at(claims, "/debt/monthly_payment_eur")
                            .and_then(cents),
                        payment_arrangement: at(claims, "/payment_arrangement")
                            .and_then(Value::as_bool),
                    });
                }
            }
            for (t, amount, year, kind) in INCOMES {
                if t != vct {
                    continue;
                }
                if let Some(a) = at(claims, amount).and_then(cents) {
                    overview.income.push(IncomeLine {
                        holder: holder.clone(),
                        kind: *kind,
                        year: at(claims, year).and_then(Value::as_i64),
                        amount_cents: a,
                        credential_id: id.clone(),
                    });
                }
            }
            if vct == ADDRESS {
                overview.address = Some(AddressView {
                    street: format!(
                        "{} {}",
                        text(claims, "/address/street").unwrap_or_default(),
                        text(claims, "/address/house_number").unwrap_or_default()
                    )
                    .trim()
                    .to_string(),
                    postal_code: text(claims, "/address/postal_code").unwrap_or_default(),
                    locality: text(claims, "/address/locality").unwrap_or_default(),
                    registered_since: text(claims, "/registered_since"),
                    credential_id: id.clone(),
                });
            }
            if vct == VEHICLES {
                for v in at(claims, "/vehicles")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    overview.vehicles.push(VehicleView {
                        license_plate: text(v, "/license_plate").unwrap_or_default(),
                        description: format!(
                            "{} {}",
                            text(v, "/make").unwrap_or_default(),
                            text(v, "/model").unwrap_or_default()
                        )
                        .trim()
                        .to_string(),
                        first_registration: text(v, "/first_registration"),
                    });
                }
            }
            if vct == LICENCE {
                overview.driving_licence = Some(LicenceView {
                    categories: at(claims, "/categories")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|c| c.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                    expiry_date: text(claims, "/expiry_date"),
                });
            }
        }
        Ok(overview)
    }
}

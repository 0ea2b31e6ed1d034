//! Model-based property test: random sequences of put, delete, batched writes (committed and
//! aborted), PIN changes (right and wrong old PIN), lock, unlock (right and wrong PIN) and
//! reopen (the process going away) run against the vault and against a plain in-memory list.
//! After every step the vault's answers match the model, and after reopening and unlocking
//! with the model's current PIN its contents equal the model, in insertion order.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kluis_vault::*;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Item {
    text: String,
    n: i64,
}
impl Record for Item {
    const KIND: &'static str = "item";
}

#[derive(Debug, Clone)]
enum Op {
    Put(usize, Item),
    Delete(usize),
    /// Several puts and deletes in one transaction; `abort` makes the closure fail at the end.
    Batch(Vec<(usize, Option<Item>)>, bool),
    ChangePin {
        right_old: bool,
        new: usize,
    },
    Lock,
    Unlock {
        right: bool,
    },
    Reopen,
}

const IDS: usize = 6;
const PINS: [&str; 3] = ["246810", "135791", "correct horse battery"];

fn id(i: usize) -> String {
    format!("{i:032x}")
}

fn item() -> impl Strategy<Value = Item> {
    (".{0,40}", any::<i64>()).prop_map(|(text, n)| Item { text, n })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..IDS, item()).prop_map(|(i, v)| Op::Put(i, v)),
        2 => (0..IDS).prop_map(Op::Delete),
        2 => (prop::collection::vec((0..IDS, prop::option::of(item())), 1..5), any::<bool>())
            .prop_map(|(ops, abort)| Op::Batch(ops, abort)),
        1 => (any::<bool>(), 0..PINS.len()).prop_map(|(right_old, new)| Op::ChangePin { right_old, new }),
        1 => Just(Op::Lock),
        2 => any::<bool>().prop_map(|right| Op::Unlock { right }),
        2 => Just(Op::Reopen),
    ]
}

/// The model: records in insertion order (a replaced record keeps its place), the PIN, and
/// whether the handle is unlocked.
#[derive(Default)]
struct Model {
    items: Vec<(String, Item)>,
    pin: usize,
    unlocked: bool,
}

impl Model {
    fn put(&mut self, id: String, v: Item) {
        match self.items.iter_mut().find(|(i, _)| *i == id) {
            Some(slot) => slot.1 = v,
            None => self.items.push((id, v)),
        }
    }
    fn delete(&mut self, id: &str) -> bool {
        let before = self.items.len();
        self.items.retain(|(i, _)| i != id);
        before != self.items.len()
    }
}

fn wrong_pin() -> Pin {
    Pin::new("000000-wrong")
}

fn assert_equal(vault: &Vault, model: &Model) {
    let listed: Vec<(String, Item)> = vault
        .list::<Item>()
        .unwrap()
        .into_iter()
        .map(|(id, r)| (id, r.unwrap()))
        .collect();
    assert_eq!(listed, model.items);
    for i in 0..IDS {
        let want = model
            .items
            .iter()
            .find(|(k, _)| *k == id(i))
            .map(|(_, v)| v);
        assert_eq!(vault.get::<Item>(&id(i)).unwrap().as_ref(), want);
    }
}

fn run(ops: Vec<Op>) {
    let root = tempfile::tempdir().unwrap();
    let mut vault = new_vault(root.path(), test_options());
    vault.dangerous_set_durability(Durability::Normal).unwrap();
    let mut model = Model {
        pin: 0,
        unlocked: true,
        ..Model::default()
    };
    // `new_vault` uses common::pin(); make it the model's first PIN.
    assert_eq!(PINS[0], "246810");

    for op in ops {
        match op {
            Op::Put(i, v) => {
                let r = vault.put(&id(i), &v);
                if model.unlocked {
                    r.unwrap();
                    model.put(id(i), v);
                } else {
                    assert!(matches!(r, Err(VaultError::Locked)), "{r:?}");
                }
            }
            Op::Delete(i) => {
                let r = vault.delete::<Item>(&id(i));
                if model.unlocked {
                    assert_eq!(r.unwrap(), model.delete(&id(i)));
                } else {
                    assert!(matches!(r, Err(VaultError::Locked)), "{r:?}");
                }
            }
            Op::Batch(steps, abort) => {
                let r = vault.write(|t| {
                    for (i, v) in &steps {
                        match v {
                            Some(v) => t.put(&id(*i), v)?,
                            None => {
                                t.delete::<Item>(&id(*i))?;
                            }
                        }
                    }
                    if abort {
                        return Err(VaultError::Busy);
                    }
                    Ok(())
                });
                match (model.unlocked, abort) {
                    (false, _) => assert!(matches!(r, Err(VaultError::Locked)), "{r:?}"),
                    (true, true) => assert!(matches!(r, Err(VaultError::Busy)), "{r:?}"),
                    (true, false) => {
                        r.unwrap();
                        for (i, v) in steps {
                            match v {
                                Some(v) => model.put(id(i), v),
                                None => {
                                    model.delete(&id(i));
                                }
                            }
                        }
                    }
                }
            }
            Op::ChangePin { right_old, new } => {
                let old = if right_old {
                    Pin::new(PINS[model.pin])
                } else {
                    wrong_pin()
                };
                let r = vault.change_pin(&old, &Pin::new(PINS[new]));
                if right_old {
                    r.unwrap();
                    model.pin = new;
                    model.unlocked = true; // change_pin leaves the vault unlocked
                } else {
                    assert!(matches!(r, Err(VaultError::WrongPin { .. })), "{r:?}");
                }
            }
            Op::Lock => {
                vault.lock();
                model.unlocked = false;
            }
            Op::Unlock { right } => {
                if right {
                    vault.unlock(&Pin::new(PINS[model.pin])).unwrap();
                    model.unlocked = true;
                } else {
                    let r = vault.unlock(&wrong_pin());
                    assert!(matches!(r, Err(VaultError::WrongPin { .. })), "{r:?}");
                    // A wrong PIN does not lock an unlocked handle.
                }
            }
            Op::Reopen => {
                drop(vault);
                vault = reopen(root.path());
                vault.dangerous_set_durability(Durability::Normal).unwrap();
                model.unlocked = false;
            }
        }
        assert_eq!(vault.is_unlocked(), model.unlocked);
        if model.unlocked {
            assert_equal(&vault, &model);
        }
    }

    // The end state survives the process going away, under the model's PIN only.
    drop(vault);
    let vault = reopen(root.path());
    for (i, p) in PINS.iter().enumerate() {
        if i != model.pin && *p != PINS[model.pin] {
            assert!(vault.unlock(&Pin::new(*p)).is_err());
        }
    }
    vault.unlock(&Pin::new(PINS[model.pin])).unwrap();
    assert_equal(&vault, &model);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn vault_equals_model_after_any_sequence(ops in prop::collection::vec(op(), 1..40)) {
        run(ops);
    }
}

//! The records every mock Domain API starts with: ERP.net-shaped parties, persons and
//! companies, with fixed ids so that tests and documentation can name them.

use serde_json::{Value, json};

use crate::domain_api::odata::{EntitySets, Record};

/// The entity set examples read by default: `General_Contacts_Parties`, which exists in every
/// ERP.net instance and is never empty there (the enterprise company itself is a party).
pub const DEFAULT_ENTITY: &str = "General_Contacts_Parties";

/// The `Id` of the first record of [`DEFAULT_ENTITY`]: the mock's enterprise company.
pub const ENTERPRISE_COMPANY_ID: &str = "6f8f0c1e-2b7a-4c3d-9e51-0a1b2c3d4e01";

/// `(Id, PartyCode, English name, Bulgarian name)` of the companies.
const COMPANIES: [(&str, &str, &str, &str); 3] = [
    (
        ENTERPRISE_COMPANY_ID,
        "0001",
        "Mock Enterprise Ltd",
        "Мок Ентърпрайз ООД",
    ),
    (
        "6f8f0c1e-2b7a-4c3d-9e51-0a1b2c3d4e02",
        "0002",
        "Northwind Trading",
        "Нортуинд Трейдинг",
    ),
    (
        "6f8f0c1e-2b7a-4c3d-9e51-0a1b2c3d4e03",
        "0003",
        "Contoso Supplies",
        "Контосо Съплайс",
    ),
];

/// `(Id, PartyCode, first name, last name, gender)` of the persons.
const PERSONS: [(&str, &str, &str, &str, &str); 5] = [
    (
        "6f8f0c1e-2b7a-4c3d-9e51-0a1b2c3d4e11",
        "1001",
        "Ivan",
        "Petrov",
        "M",
    ),
    (
        "6f8f0c1e-2b7a-4c3d-9e51-0a1b2c3d4e12",
        "1002",
        "Maria",
        "Georgieva",
        "F",
    ),
    (
        "6f8f0c1e-2b7a-4c3d-9e51-0a1b2c3d4e13",
        "1003",
        "John",
        "Doe",
        "M",
    ),
    (
        "6f8f0c1e-2b7a-4c3d-9e51-0a1b2c3d4e14",
        "1004",
        "Ana",
        "Dimitrova",
        "F",
    ),
    (
        "6f8f0c1e-2b7a-4c3d-9e51-0a1b2c3d4e15",
        "1005",
        "Alex",
        "Stoyanov",
        "O",
    ),
];

/// `General_Contacts_Parties` (every party), `General_Contacts_Companies` and
/// `General_Contacts_Persons`, the attributes a subset of ERP.net's.
pub(crate) fn default_sets() -> EntitySets {
    let companies: Vec<Record> = COMPANIES
        .iter()
        .map(|&(id, code, en, bg)| {
            record(json!({
                "Id": id,
                "PartyCode": code,
                "PartyName": { "EN": en, "BG": bg },
                "PartyType": "C",
                "IsActive": true,
                "DisplayText": en,
            }))
        })
        .collect();
    let persons: Vec<Record> = PERSONS
        .iter()
        .map(|&(id, code, first, last, gender)| {
            let name = format!("{first} {last}");
            record(json!({
                "Id": id,
                "PartyCode": code,
                "PartyName": { "EN": name },
                "PartyType": "P",
                "FirstName": { "EN": first },
                "LastName": { "EN": last },
                "Gender": gender,
                "IsActive": code != "1005",
                "DisplayText": name,
            }))
        })
        .collect();
    let parties: Vec<Record> = companies
        .iter()
        .chain(&persons)
        .map(|record| {
            [
                "Id",
                "PartyCode",
                "PartyName",
                "PartyType",
                "IsActive",
                "DisplayText",
            ]
            .into_iter()
            .filter_map(|field| {
                record
                    .get(field)
                    .map(|value| (field.to_owned(), value.clone()))
            })
            .collect()
        })
        .collect();
    let mut sets = EntitySets::default();
    sets.insert(DEFAULT_ENTITY.to_owned(), parties);
    sets.insert("General_Contacts_Companies".to_owned(), companies);
    sets.insert("General_Contacts_Persons".to_owned(), persons);
    sets
}

fn record(value: Value) -> Record {
    match value {
        Value::Object(record) => record,
        _ => Record::new(),
    }
}

//! Collection schemas between Milvus's protobuf form and the backup meta's JSON form.

use base64::Engine;
use prost::Message;

use super::meta;
use super::proto::common::KeyValuePair as PbKv;
use super::proto::schema as pb;

pub(crate) fn kv_to_meta(v: &[PbKv]) -> Vec<meta::KeyValuePair> {
    v.iter()
        .map(|p| meta::KeyValuePair {
            key: p.key.clone(),
            value: p.value.clone(),
        })
        .collect()
}

pub(crate) fn kv_to_pb(v: &[meta::KeyValuePair]) -> Vec<PbKv> {
    v.iter()
        .map(|p| PbKv {
            key: p.key.clone(),
            value: p.value.clone(),
        })
        .collect()
}

/// The meta form of a schema described by Milvus.
pub(crate) fn to_meta(s: &pb::CollectionSchema) -> meta::CollectionSchema {
    #[allow(deprecated)]
    let auto_id = s.auto_id;
    meta::CollectionSchema {
        name: s.name.clone(),
        description: s.description.clone(),
        auto_id,
        enable_dynamic_field: s.enable_dynamic_field,
        fields: s
            .fields
            .iter()
            .map(|f| meta::FieldSchema {
                field_id: f.field_id,
                name: f.name.clone(),
                is_primary_key: f.is_primary_key,
                description: f.description.clone(),
                data_type: meta::DataType(f.data_type),
                type_params: kv_to_meta(&f.type_params),
                index_params: kv_to_meta(&f.index_params),
                auto_id: f.auto_id,
                state: meta::FieldState(f.state),
                element_type: meta::DataType(f.element_type),
                is_dynamic: f.is_dynamic,
                is_partition_key: f.is_partition_key,
                // Go's encoding/json cannot hold the oneof: milvus-backup stores its protobuf bytes in base64.
                default_value_base64: f
                    .default_value
                    .as_ref()
                    .map(|v| base64::engine::general_purpose::STANDARD.encode(v.encode_to_vec()))
                    .unwrap_or_default(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// The protobuf schema to create collection `name` from a backed-up schema: same fields and field ids,
/// without the dynamic `$meta` field, which Milvus adds itself.
pub(crate) fn to_pb(s: &meta::CollectionSchema, name: &str) -> pb::CollectionSchema {
    #[allow(deprecated)]
    pb::CollectionSchema {
        name: name.to_string(),
        description: s.description.clone(),
        auto_id: s.auto_id,
        enable_dynamic_field: s.enable_dynamic_field,
        fields: s
            .fields
            .iter()
            .filter(|f| !f.is_dynamic)
            .map(|f| pb::FieldSchema {
                field_id: f.field_id,
                name: f.name.clone(),
                is_primary_key: f.is_primary_key,
                description: f.description.clone(),
                data_type: f.data_type.0,
                type_params: kv_to_pb(&f.type_params),
                index_params: kv_to_pb(&f.index_params),
                auto_id: f.auto_id,
                state: 0,
                element_type: f.element_type.0,
                default_value: decode_default(f),
                is_dynamic: false,
                is_partition_key: f.is_partition_key,
            })
            .collect(),
    }
}

fn decode_default(f: &meta::FieldSchema) -> Option<pb::ValueField> {
    if !f.default_value_base64.is_empty() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&f.default_value_base64)
            .ok()?;
        return pb::ValueField::decode(bytes.as_slice()).ok();
    }
    if !f.default_value_proto.is_empty() {
        return pb::ValueField::decode(f.default_value_proto.as_bytes()).ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_fields_and_drops_dynamic() {
        let pbs = pb::CollectionSchema {
            name: "c".into(),
            description: "d".into(),
            enable_dynamic_field: true,
            fields: vec![
                pb::FieldSchema {
                    field_id: 100,
                    name: "id".into(),
                    is_primary_key: true,
                    data_type: 5,
                    ..Default::default()
                },
                pb::FieldSchema {
                    field_id: 101,
                    name: "v".into(),
                    data_type: 101,
                    type_params: vec![PbKv {
                        key: "dim".into(),
                        value: "8".into(),
                    }],
                    default_value: None,
                    ..Default::default()
                },
                pb::FieldSchema {
                    field_id: 102,
                    name: "$meta".into(),
                    is_dynamic: true,
                    data_type: 23,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let m = to_meta(&pbs);
        assert_eq!(m.fields[1].type_params[0].value, "8");
        let back = to_pb(&m, "c_bak");
        assert_eq!(back.name, "c_bak");
        assert_eq!(back.fields.len(), 2);
        assert_eq!(back.fields[1].field_id, 101);
        assert!(back.enable_dynamic_field);
    }
}

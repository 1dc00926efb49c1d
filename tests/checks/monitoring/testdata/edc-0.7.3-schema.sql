-- The tables query-exporter reads, as tractusx-edc 0.7.3's control-plane Flyway migrations
-- leave them after every script has run (columns, types, defaults and keys of the final state;
-- written from the scripts, not copied):
--   edc-extensions/migrations/control-plane-migration/src/main/resources/org/eclipse/tractusx/
--   edc/postgresql/migration/
--     contractnegotiation/V0_0_1__Init_ContractNegotiation_Database_Schema.sql  edc_lease,
--         edc_contract_agreement, edc_contract_negotiation; V0_0_2 (agreement id -> agreement_id,
--         correlation_id nullable), V0_0_3 (contract_agreement_id -> agreement_id, agreement_id
--         -> agr_id, JSON columns, policy), V0_0_4 (created_at, updated_at), V0_0_5
--         (callback_addresses), V0_0_6 (type -> VARCHAR), V0_0_7 (pending), V0_0_8
--         (protocol_messages)
--     transferprocess/V0_0_1 .. V0_0_15 (id -> transferprocess_id in V0_0_3; edc_data_request
--         dropped and its fields inlined in V0_0_15)
--     asset/V0_0_1 .. V0_0_6 (properties, private_properties and data_address as JSON in V0_0_5)
CREATE TABLE edc_lease
(
    leased_by      VARCHAR(255)          NOT NULL,
    leased_at      BIGINT,
    lease_duration INTEGER DEFAULT 60000 NOT NULL,
    lease_id       VARCHAR(255)          NOT NULL CONSTRAINT lease_pk PRIMARY KEY
);

CREATE TABLE edc_contract_agreement
(
    agr_id            VARCHAR      NOT NULL CONSTRAINT contract_agreement_pk PRIMARY KEY,
    provider_agent_id VARCHAR(255),
    consumer_agent_id VARCHAR(255),
    signing_date      BIGINT,
    start_date        BIGINT,
    end_date          INTEGER,
    asset_id          VARCHAR(255) NOT NULL,
    policy_id         VARCHAR(255),
    serialized_policy TEXT,
    policy            JSON
);

CREATE TABLE edc_contract_negotiation
(
    id                   VARCHAR(255)                                              NOT NULL
        CONSTRAINT contract_negotiation_pk PRIMARY KEY,
    correlation_id       VARCHAR(255),
    counterparty_id      VARCHAR(255)                                              NOT NULL,
    counterparty_address VARCHAR(255)                                              NOT NULL,
    protocol             VARCHAR(255) DEFAULT 'ids-multipart'::CHARACTER VARYING NOT NULL,
    type                 VARCHAR      DEFAULT 0                                    NOT NULL,
    state                INTEGER      DEFAULT 0                                    NOT NULL,
    state_count          INTEGER      DEFAULT 0,
    state_timestamp      BIGINT,
    error_detail         TEXT,
    agreement_id         TEXT CONSTRAINT contract_negotiation_contract_agreement_id_fk
        REFERENCES edc_contract_agreement,
    contract_offers      JSON,
    trace_context        JSON,
    lease_id             VARCHAR(255) CONSTRAINT contract_negotiation_lease_lease_id_fk
        REFERENCES edc_lease ON DELETE SET NULL,
    created_at           BIGINT,
    updated_at           BIGINT,
    callback_addresses   JSON,
    pending              BOOLEAN      DEFAULT FALSE,
    protocol_messages    JSON         DEFAULT '{}'
);

CREATE TABLE edc_transfer_process
(
    transferprocess_id       VARCHAR(255)      NOT NULL CONSTRAINT transfer_process_pk PRIMARY KEY,
    type                     VARCHAR(255)      NOT NULL,
    state                    INTEGER           NOT NULL,
    state_count              INTEGER DEFAULT 0 NOT NULL,
    state_time_stamp         BIGINT,
    trace_context            JSON,
    error_detail             TEXT,
    resource_manifest        JSON,
    provisioned_resource_set JSON,
    lease_id                 VARCHAR(255) CONSTRAINT transfer_process_lease_lease_id_fk
        REFERENCES edc_lease ON DELETE SET NULL,
    content_data_address     JSON,
    created_at               BIGINT,
    deprovisioned_resources  JSON,
    updated_at               BIGINT,
    private_properties       TEXT DEFAULT '{}',
    callback_addresses       JSON,
    pending                  BOOLEAN DEFAULT FALSE,
    transfer_type            VARCHAR,
    protocol_messages        JSON DEFAULT '{}',
    data_plane_id            VARCHAR,
    correlation_id           VARCHAR,
    counter_party_address    VARCHAR,
    protocol                 VARCHAR,
    asset_id                 VARCHAR,
    contract_id              VARCHAR,
    data_destination         JSON
);

CREATE TABLE edc_asset
(
    asset_id           VARCHAR(255) NOT NULL PRIMARY KEY,
    created_at         BIGINT,
    properties         JSON,
    private_properties JSON,
    data_address       JSON
);

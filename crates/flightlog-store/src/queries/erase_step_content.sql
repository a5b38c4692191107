-- Removes personal content from some steps of one session, in place, and
-- records the erased fields' hashes (a JSON object per step: path -> hex)
-- so that the step hashes still verify. transform() routes each step's new
-- values by step number. Synchronous (mutations_sync = 2): when it returns,
-- the old content is gone from the parts that serve reads; ClickHouse drops
-- the old parts afterwards.
ALTER TABLE steps UPDATE
    raw             = transform(step, {steps:Array(UInt64)}, {raws:Array(String)}, raw),
    erased          = CAST(mapApply((k, v) -> (k, unhex(v)),
                               JSONExtract(transform(step, {steps:Array(UInt64)}, {erased:Array(String)}, '{}'),
                                           'Map(String, String)'))
                           AS Map(String, FixedString(32))),
    prompt_system   = '',
    prompt_messages = '',
    -- The messages they referred to are dropped next, where no step of the
    -- session still needs them (content.rs, drop_unneeded_messages).
    message_refs    = [],
    attribute_refs  = CAST(map(), 'Map(String, Array(FixedString(32)))'),
    text_refs       = CAST(map(), 'Map(String, FixedString(32))'),
    completion      = '',
    tool_params     = '',
    tool_result     = ''
WHERE project = {project:String} AND session_id = {session:String} AND step IN {steps:Array(UInt64)}
  -- Only the rows read for it: a step that arrived since under a number
  -- used before (after its session's steps expired) is logged past them,
  -- and a held user's is never blanked.
  AND log_index <= {through:UInt64}
  AND NOT has({held_users:Array(String)}, user_id)
SETTINGS mutations_sync = 2

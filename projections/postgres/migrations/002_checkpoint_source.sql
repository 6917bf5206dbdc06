-- Which event log a checkpoint counts in: "<stream>@<created>". Stream sequences start over when a
-- stream is deleted and created again (or another prefix is pointed at this schema); a checkpoint
-- from another log would make the projector skip events. The projector compares this at start-up
-- and starts the read models over when it differs.
ALTER TABLE projector_checkpoints ADD COLUMN source text;

-- Personalised messages (issue 13): the render-ahead worker of a dialer renders the audio of a
-- campaign's next contacts and stamps each with the campaign's render signature (a hash of
-- everything that decides what a call says: voice, messages, company name, opt-out key...).
-- The lease of a personalised campaign takes only contacts whose stamp is the campaign's
-- current one, so no call waits for speech synthesis and a changed message is rendered anew.
ALTER TABLE contacts ADD COLUMN rendered text;

-- What that lease scans: the rendered pending contacts of one campaign, due first. Partial, so
-- it holds only the few contacts rendered ahead of the dialer, never a whole campaign.
CREATE INDEX contacts_rendered_dialable
    ON contacts (campaign_id, rendered, next_attempt_at NULLS FIRST, id)
    WHERE status = 'pending' AND rendered IS NOT NULL;

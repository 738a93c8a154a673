-- lib.lua is put in front of every script (see scripts.go), so the scripts
-- share one definition of what makes two values the same.

-- key_of is the uniqueness key of a stored display value of a profile
-- field: username and email fold ASCII case, a phone number ("+86 1300...")
-- loses its space, anything else is itself. keys.go's uniqueKey is the same
-- function in Go.
local function key_of(field, display)
  if field == 'u' or field == 'e' then
    return string.lower(display)
  elseif field == 'p' then
    return (string.gsub(display, ' ', '', 1))
  end
  return display
end

-- CHANNEL names the contact fields as verification tokens record them.
local CHANNEL = { p = 'phone', e = 'email' }

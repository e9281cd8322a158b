-- wrk script: each request carries the next of many session cookies (one per
-- line of the file given after `--`), so no cache can serve repeated sessions.
local cookies = {}
local index = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then cookies[#cookies + 1] = line end
  end
end

function request()
  index = index % #cookies + 1
  wrk.headers["Cookie"] = cookies[index]
  return wrk.format()
end

# The example chat service (examples/chat-service) and its traffic driver under tenantscope, built from the
# repository root (the driver runs the same image with another command):
#   docker compose build chat-service
FROM node:24.21.0-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build
# Inside the package, `tenantscope/register` resolves to ./register.js through package.json "exports"
# (Node's package self-reference), exactly what an app that installed tenantscope writes.
CMD ["node", "--require", "tenantscope/register", "examples/chat-service/server.js"]
